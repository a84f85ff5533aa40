"""Per-process figures from /proc: resident memory (peak, anonymous, file-backed) and CPU time."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Memory:
    peak_rss_kb: int  # VmHWM: the kernel's high-water mark of the resident set
    rss_kb: int
    anon_kb: int  # RssAnon
    file_kb: int  # RssFile (+ RssShmem): mapped files, executable and libraries included


def memory(pid: int) -> Memory | None:
    """The process's resident memory now, or None once it is gone."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        return None
    if "VmRSS" not in fields:  # a zombie has no memory left
        return None
    return Memory(fields.get("VmHWM", 0), fields["VmRSS"], fields.get("RssAnon", 0),
                  fields.get("RssFile", 0) + fields.get("RssShmem", 0))


def cpu_ns(pid: int) -> int | None:
    """user + system time of the process and its reaped threads, in clock ticks (10 ms); None once it is gone.
    A sized environment reads the leaf cgroup's nanosecond counter instead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLOCK_TICKS


def tree(pid: int) -> list[int]:
    """pid and its descendants (pscache's hit workers, PSCACHE_WORKERS)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return [pid]
    return [pid] + [p for kid in kids for p in tree(kid)]


def pss_kb(pid: int) -> int:
    """Proportional set size: resident memory with each shared page divided among the processes sharing it, so
    a process tree's sum is what it costs (forked workers share the owner's pages until they write to them)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rss_and_fds(pid: int) -> tuple[int, int]:
    """Resident memory (bytes) and open file descriptors of a live process."""
    m = memory(pid)
    return (m.rss_kb if m else 0) * 1024, len(os.listdir(f"/proc/{pid}/fd"))
