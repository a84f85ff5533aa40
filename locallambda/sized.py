"""Sized execution environments: one cgroup per environment with Lambda's CPU share and memory limit.

Lambda gives an environment CPU in proportion to its memory (1,769 MB = one vCPU) and enforces the memory size on
the whole environment, function and extensions together. Here each environment is a cgroup (v2 where it is mounted
with the cpu and memory controllers and writable, else v1 cpu + cpuacct + memory + freezer), and every process of
the environment (runtime, each extension) is its own leaf under it, so CPU time and memory peaks can be read per
process as well as for the whole environment:

    <base>/pscache-lambda/<environment>/            CPU quota, memory limit, freezer
    <base>/pscache-lambda/<environment>/<process>   one per launched process; figures only

A process joins its leaf between fork and exec (it writes "0", meaning itself, to the leaf's cgroup.procs), so the
exec'd program and everything it starts are accounted from their first instruction.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

MB_PER_VCPU = 1769  # Lambda: 1,769 MB of memory = one full vCPU
PERIOD_US = 100_000  # CFS bandwidth period
MIN_QUOTA_US = 1000  # the kernel refuses smaller quotas
INIT_CPU_MODELS = ("share", "boost")
ROOT_NAME = "pscache-lambda"


class SizedUnavailable(RuntimeError):
    """A sized environment was asked for where cgroups cannot be made; the message says why."""


def cpu_quota_us(memory_mb: int, cores: int | None = None) -> int:
    """CFS quota per 100 ms period for a function of memory_mb: memory_mb / 1769 of one CPU, at most the cores."""
    share = min(memory_mb / MB_PER_VCPU, float(cores or os.cpu_count() or 1))
    return max(MIN_QUOTA_US, round(share * PERIOD_US))


def init_quota_us(memory_mb: int, model: str, cores: int | None = None) -> int:
    """INIT's CFS quota per 100 ms period: the share (model "share"), or one CPU (model "boost": the share of
    1,769 MB, or the function's own share where that is more). Lambda's on-demand INIT boost is reported as about one
    vCPU whatever the memory size (docs/benchmarks.md): not the host's every core, which a second thread of the
    extension would otherwise get here."""
    if model not in INIT_CPU_MODELS:
        raise ValueError(f"INIT CPU model must be one of {INIT_CPU_MODELS}, not {model!r}")
    return cpu_quota_us(max(memory_mb, MB_PER_VCPU) if model == "boost" else memory_mb, cores)


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _keyed(text: str) -> dict[str, int]:
    """`key value` lines (cpu.stat, memory.events, memory.oom_control) as a dict of ints."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(fstype, mount point, options) of every cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _, rest = right.partition(" ")
            if fstype not in ("cgroup", "cgroup2"):
                continue
            point = left.split()[4]
            options = set(rest.split()[-1].split(","))
            found.append((fstype, point, options))
    return found


def _own_path(hierarchy: str) -> str:
    """This process's cgroup in a v1 hierarchy ("cpu", "memory", ...) or, for "", in v2."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if hierarchy in controllers.split(",") or (hierarchy == "" and controllers == ""):
                return path
    return "/"


@dataclass
class Usage:
    """What the kernel counted for one cgroup."""

    cpu_ns: int  # CPU time of every task that ever ran in it
    memory_peak_bytes: int  # highest charge: anonymous memory, page cache and kernel memory, as the kernel counts it
    memory_bytes: int  # the charge now
    oom_kills: int  # processes the kernel killed because the cgroup (or its environment) ran out of memory


class Backend:
    """The cgroup version in use: where the environments live and how each figure is read or set."""

    version = 0
    description = ""
    can_freeze = True
    local_oom_events = False  # v1 counts an OOM kill only in the killed task's own cgroup

    def new_environment(self, memory_mb: int) -> Environment:
        return Environment(self, f"env-{os.getpid()}-{uuid.uuid4().hex[:8]}", memory_mb)


class V1(Backend):
    """cgroup v1: one directory per controller hierarchy (cpu, cpuacct, memory, freezer)."""

    version = 1
    CONTROLLERS = ("cpu", "cpuacct", "memory")  # required; "freezer" is used where it is mounted
    local_oom_events = True

    def __init__(self, bases: dict[str, Path]):
        self.bases = bases  # controller -> <hierarchy>/<own cgroup>/pscache-lambda
        self.can_freeze = "freezer" in bases
        self.description = "cgroup v1 (" + ", ".join(f"{c}: {p}" for c, p in bases.items()) + ")"

    def dirs(self, rel: str) -> list[Path]:
        # Co-mounted controllers (cpu,cpuacct) share one directory: make and join it once.
        return list(dict.fromkeys(base / rel for base in self.bases.values()))

    def path(self, controller: str, rel: str) -> Path:
        return self.bases[controller] / rel

    def limit(self, rel: str, memory_mb: int) -> None:
        limit = str(memory_mb * 1024 * 1024)
        _write(self.path("memory", rel) / "memory.limit_in_bytes", limit)
        memsw = self.path("memory", rel) / "memory.memsw.limit_in_bytes"
        if memsw.exists():  # no swapping past the limit either: Lambda has no swap
            _write(memsw, limit)
        _write(self.path("cpu", rel) / "cpu.cfs_period_us", str(PERIOD_US))

    def set_quota(self, rel: str, quota_us: int | None) -> None:
        _write(self.path("cpu", rel) / "cpu.cfs_quota_us", "-1" if quota_us is None else str(quota_us))

    def freeze(self, rel: str, frozen: bool) -> None:
        state = self.path("freezer", rel) / "freezer.state"
        _write(state, "FROZEN" if frozen else "THAWED")
        want = "FROZEN" if frozen else "THAWED"
        deadline = time.monotonic() + 5
        while _read(state).strip() != want:  # FREEZING until every task has stopped
            if time.monotonic() > deadline:
                raise RuntimeError(f"freezer of {rel} stuck in {_read(state).strip()}")
            time.sleep(0.001)

    def usage(self, rel: str) -> Usage:
        memory = self.path("memory", rel)
        return Usage(
            cpu_ns=int(_read(self.path("cpuacct", rel) / "cpuacct.usage")),
            memory_peak_bytes=int(_read(memory / "memory.max_usage_in_bytes")),
            memory_bytes=int(_read(memory / "memory.usage_in_bytes")),
            oom_kills=_keyed(_read(memory / "memory.oom_control")).get("oom_kill", 0),
        )

    def procs_file(self, rel: str) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs(rel)]

    def pids(self, rel: str) -> set[int]:
        # cgroup.procs lists only a cgroup's own members: walk the leaves too.
        pids: set[int] = set()
        for f in self.path("memory", rel).rglob("cgroup.procs"):
            pids |= {int(p) for p in _read(f).split()}
        return pids


class V2(Backend):
    """cgroup v2: one tree; the controllers are enabled down to the environments, processes live in the leaves."""

    version = 2

    def __init__(self, base: Path):
        self.base = base  # <cgroup2 mount>/pscache-lambda
        self.description = f"cgroup v2 ({base})"

    def dirs(self, rel: str) -> list[Path]:
        return [self.base / rel]

    def limit(self, rel: str, memory_mb: int) -> None:
        d = self.base / rel
        _write(d / "memory.max", str(memory_mb * 1024 * 1024))
        if (d / "memory.swap.max").exists():
            _write(d / "memory.swap.max", "0")
        # The leaves (one per process) need the controllers too, for their own figures.
        _write(d / "cgroup.subtree_control", "+cpu +memory")

    def set_quota(self, rel: str, quota_us: int | None) -> None:
        _write(self.base / rel / "cpu.max", f"{'max' if quota_us is None else quota_us} {PERIOD_US}")

    def freeze(self, rel: str, frozen: bool) -> None:
        d = self.base / rel
        _write(d / "cgroup.freeze", "1" if frozen else "0")
        deadline = time.monotonic() + 5
        while _keyed(_read(d / "cgroup.events")).get("frozen") != int(frozen):
            if time.monotonic() > deadline:
                raise RuntimeError(f"cgroup.freeze of {rel} did not settle")
            time.sleep(0.001)

    def usage(self, rel: str) -> Usage:
        d = self.base / rel
        peak = d / "memory.peak"  # Linux 5.19+
        return Usage(
            cpu_ns=_keyed(_read(d / "cpu.stat")).get("usage_usec", 0) * 1000,
            memory_peak_bytes=int(_read(peak)) if peak.exists() else int(_read(d / "memory.current")),
            memory_bytes=int(_read(d / "memory.current")),
            oom_kills=_keyed(_read(d / "memory.events")).get("oom_kill", 0),
        )

    def procs_file(self, rel: str) -> list[Path]:
        return [self.base / rel / "cgroup.procs"]

    def pids(self, rel: str) -> set[int]:
        pids: set[int] = set()
        for f in (self.base / rel).rglob("cgroup.procs"):
            pids |= {int(p) for p in _read(f).split()}
        return pids


def _try_mkdir(base: Path) -> None:
    """Make base if needed and prove that cgroups can be created under it (an existing directory on a
    read-only cgroupfs still passes mkdir(exist_ok=True))."""
    base.mkdir(exist_ok=True)
    trial = base / f"probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    trial.mkdir()
    trial.rmdir()


def probe() -> Backend:
    """The cgroup backend of this machine, or SizedUnavailable saying why there is none."""
    if os.geteuid() != 0:
        raise SizedUnavailable(f"sized environments need root to create cgroups (running as uid {os.geteuid()})")
    mounts = _mounts()
    problems = []
    for fstype, point, _ in mounts:
        if fstype != "cgroup2":
            continue
        root = Path(point)
        try:
            available = set(_read(root / "cgroup.controllers").split())
        except OSError as e:
            problems.append(f"cgroup v2 at {point}: {e}")
            continue
        if not {"cpu", "memory"} <= available:
            problems.append(f"cgroup v2 at {point} has controllers {sorted(available) or 'none'}, not cpu and memory")
            continue
        base = root / ROOT_NAME
        try:
            _write(root / "cgroup.subtree_control", "+cpu +memory")
            _try_mkdir(base)
            _write(base / "cgroup.subtree_control", "+cpu +memory")
        except OSError as e:
            problems.append(f"cgroup v2 at {point} is not writable: {e}")
            continue
        return V2(base)
    bases: dict[str, Path] = {}
    for controller in V1.CONTROLLERS + ("freezer",):
        point = next((p for fstype, p, opts in mounts if fstype == "cgroup" and controller in opts), None)
        if point is None:
            if controller != "freezer":  # without one, freezing falls back to SIGSTOP/SIGCONT
                problems.append(f"no cgroup v1 hierarchy with the {controller} controller")
            continue
        base = Path(point + _own_path(controller)) / ROOT_NAME
        try:
            _try_mkdir(base)
        except OSError as e:
            problems.append(f"cgroup v1 {controller} hierarchy at {point} is not writable: {e}")
            continue
        bases[controller] = base
    if all(c in bases for c in V1.CONTROLLERS):
        return V1(bases)
    raise SizedUnavailable("sized environments need cgroups with CPU and memory control: " + "; ".join(problems))


class Leaf:
    """One process's cgroup inside an environment: where it runs, and its own figures."""

    def __init__(self, env: Environment, name: str):
        self.env, self.rel = env, f"{env.name}/{name}"
        for d in env.backend.dirs(self.rel):
            d.mkdir()

    def preexec(self):
        """A preexec_fn for subprocess.Popen: the child moves itself here before it execs."""
        fds = [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in self.env.backend.procs_file(self.rel)]
        self.env.fds += fds

        def join() -> None:
            for fd in fds:
                os.write(fd, b"0")  # "0" is the writing process itself

        return join

    def usage(self) -> Usage:
        return self.env.backend.usage(self.rel)


class Environment:
    """One execution environment's cgroup: CPU quota, memory limit, freezer, and a leaf per process."""

    def __init__(self, backend: Backend, name: str, memory_mb: int):
        self.backend, self.name, self.memory_mb = backend, name, memory_mb
        self.quota_us = cpu_quota_us(memory_mb)
        self.fds: list[int] = []
        self.leaves: dict[str, Leaf] = {}
        for d in backend.dirs(name):
            d.mkdir()
        backend.limit(name, memory_mb)
        backend.set_quota(name, self.quota_us)

    @property
    def can_freeze(self) -> bool:
        return self.backend.can_freeze

    def leaf(self, name: str) -> Leaf:
        self.leaves[name] = Leaf(self, name)
        return self.leaves[name]

    def throttle(self, on: bool) -> None:
        """The CPU share (on), or no quota at all (off: the whole host, for measurements)."""
        self.backend.set_quota(self.name, self.quota_us if on else None)

    def init_cpu(self, model: str) -> None:
        """INIT's CPU: the share, or the boost's one CPU (init_quota_us)."""
        self.backend.set_quota(self.name, init_quota_us(self.memory_mb, model))

    def freeze(self) -> None:
        self.backend.freeze(self.name, True)

    def thaw(self) -> None:
        self.backend.freeze(self.name, False)

    def usage(self) -> Usage:
        usage = self.backend.usage(self.name)
        if self.backend.local_oom_events:
            usage.oom_kills += sum(leaf.usage().oom_kills for leaf in self.leaves.values())
        return usage

    def pids(self) -> set[int]:
        return self.backend.pids(self.name)

    def remove(self) -> None:
        """Kill whatever is left in the environment and delete its cgroups (leaves first)."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        with contextlib.suppress(OSError, RuntimeError):
            self.thaw()  # a frozen task cannot die
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                pids = self.pids()
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
        rels = [leaf.rel for leaf in self.leaves.values()] + [self.name]
        for rel in rels:
            for d in self.backend.dirs(rel):
                for _ in range(100):  # the last task may still be exiting
                    try:
                        d.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.01)
