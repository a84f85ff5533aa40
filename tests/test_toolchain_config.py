"""The release toolchain's CPython is configured the same whatever the building process's state (issue 20).

configure runs test programs; a result that follows the process (its niceness, limits, umask, PATH, locale) or the
building root (/dev/shm, /dev/ptmx, /etc/hosts) instead of the target changes pyconfig.h, libpython and the layer's
bytes. build/toolchain.py gives those answers (CONFIGURE_CACHE) and runs every step in a fixed environment.
"""
from __future__ import annotations

import os
import re
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build"))  # as tests/test_release_tools.py
import toolchain  # noqa: E402

pytestmark = pytest.mark.slow

# configure's run-time probes whose answer depends only on the compiler and the target's instruction set: the same
# on every x86_64 build machine (and a cross build takes configure's defaults).
TARGET_PROBES = {
    "ac_cv_pthread_is_default": "compiler flags for threads",
    "ac_cv_kpthread": "compiler flags for threads",
    "ac_cv_kthread": "compiler flags for threads",
    "ac_cv_pthread": "compiler flags for threads",
    "ac_cv_aligned_required": "the instruction set",
    "ac_cv_have_chflags": "BSD only: fails to compile on Linux",
    "ac_cv_have_lchflags": "BSD only: fails to compile on Linux",
    "ac_cv_x87_double_rounding": "the instruction set",
    "ac_cv_wchar_t_signed": "the target's ABI",
    "ac_cv_rshift_extends_sign": "the compiler",
    "ac_cv_computed_gotos": "the compiler",
    "ac_cv_c_bigendian": "the target's ABI",
    "ac_cv_compile_o2": "the compiler",
    "ac_fn_c_compute_int": "sizeof and integer constants: the target's ABI",
    "for glibc _FORTIFY_SOURCE/memmove bug": "the compiler and glibc's headers",
    "for gcc ipa-pure-const bug": "gcc only (zig is clang)",
    # Runs only where libuuid's header is found; zig's glibc sysroot has none (asserted below), so it never runs.
    "if uuid_generate_time_safe() node value is stable": "not run: no libuuid for the target",
}


def pinned(name: str) -> Path:
    """The pinned source file (a download the first time, into the toolchain's download cache)."""
    return toolchain.fetch(toolchain.read_pins()[name], toolchain.source_dirs([]),
                           toolchain.cache_root(None) / "toolchain-sources")


def configure_script(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as t:
        for m in t:
            if m.name.count("/") == 1 and m.name.endswith("/configure"):
                return t.extractfile(m).read().decode().splitlines()
    raise AssertionError(f"no configure in {tarball}")


def run_time_probes(lines: list[str]) -> set[str]:
    """Each test program configure runs: its cache variable, or its 'checking ...' message when it has none."""
    found, function = set(), None
    for i, line in enumerate(lines):
        if m := re.match(r"(ac_fn_\w+) \(\)$", line):
            function = m.group(1)  # a shell function of configure's, called by many checks
        elif line.startswith("} # ac_fn_"):
            function = None
        if 'ac_fn_c_try_run "$LINENO"' not in line:
            continue
        if function:
            found.add(function)
            continue
        name = None
        for back in range(i, max(0, i - 300), -1):
            if m := re.search(r"if test \$\{(\w+)\+y\}", lines[back]):
                name = m.group(1)
                break
            if m := re.search(r'printf %s "checking (.*)\.\.\. "', lines[back]):
                name = name or m.group(1)
                break
        found.add(name or f"line {i + 1}")
    # AC_CHECK_FILE: a file of the building root.
    found |= {m.group(1) for line in lines if (m := re.search(r"if test \$\{(ac_cv_file_\w+)\+y\}", line))}
    return found


@pytest.fixture(scope="module")
def source():
    return pinned("cpython")


def test_every_run_time_probe_of_configure_is_fixed_or_depends_only_on_the_target(source):
    probes = run_time_probes(configure_script(source))
    assert "ac_cv_broken_nice" in probes  # the parser finds the probe of issue 20
    unreviewed = sorted(probes - set(toolchain.CONFIGURE_CACHE) - set(TARGET_PROBES))
    assert not unreviewed, (f"configure ({source.name}) runs test programs not reviewed: {unreviewed}; give each "
                            "a fixed answer in build/toolchain.py's CONFIGURE_CACHE or list it in TARGET_PROBES")


def configure(work: Path, src_tarball: Path, zig: Path, cache: dict[str, str], outer: dict) -> dict[str, str]:
    """Run the recipe's CPython configure in work/ under the outer process state; return pyconfig.h and the
    Makefile with work/ replaced by a placeholder."""
    home = work / "x86_64"
    b = toolchain.Builder(home / "work", home / "logs")
    b.work.mkdir(parents=True)
    b.logs.mkdir()
    src = b.unpack(src_tarball, "cpython", home / "licenses")
    deps = home / "deps"
    (deps / "lib" / "pkgconfig").mkdir(parents=True)
    (deps / "include").mkdir()
    env = toolchain.cpython_env(toolchain.compiler_env(home, zig, work, "x86_64"), deps)
    run = b.run

    def in_outer_state(step, cmd, cwd, env):
        # The state a process inherits whatever its environment: niceness and umask.
        shell = f"umask {outer.get('umask', 0o022):03o}; exec nice -n {outer.get('nice', 0)} \"$@\""
        return run(step, ["sh", "-c", shell, "sh", *cmd], cwd, env)

    b.run = in_outer_state
    toolchain.cpython_configure(b, src, "x86_64", work, home / "python", deps, env, cache)
    return {name: (src / name).read_text() for name in ("pyconfig.h", "Makefile")}


def test_configure_gives_the_same_answers_whatever_the_niceness_umask_and_caller(source, tmp_path, monkeypatch):
    """Two configures at once (~2-3 min on 2 cores): the recipe's, and one at niceness 19 and umask 077 from a
    careless caller's environment with the niceness answer left out, which must differ in that answer alone."""
    zig = toolchain.unpack_zig(pinned("ziglang"), tmp_path)
    # What a careless caller's environment holds: none of it may reach the build.
    monkeypatch.setenv("PATH", f"{tmp_path}/nowhere:{os.environ['PATH']}")
    monkeypatch.setenv("CFLAGS", "-O0 -DCALLER")
    monkeypatch.setenv("MAKEFLAGS", "-j64")
    monkeypatch.setenv("CONFIG_SITE", str(tmp_path / "caller.site"))
    (tmp_path / "caller.site").write_text("ac_cv_posix_semaphores_enabled=no\n")
    without_nice = {k: v for k, v in toolchain.CONFIGURE_CACHE.items() if k != "ac_cv_broken_nice"}
    runs = [(toolchain.CONFIGURE_CACHE, {}), (without_nice, {"nice": 19, "umask": 0o077})]
    # The same folder name in both (configure records its path), each in its own parent.
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(configure, tmp_path / f"run{i}" / "tc", source, zig, cache, outer)
                   for i, (cache, outer) in enumerate(runs)]
        plain, niced = ({f: text.replace(f"run{i}/tc", "run/tc") for f, text in fut.result().items()}
                        for i, fut in enumerate(futures))
    assert "#define HAVE_UUID_H" not in plain["pyconfig.h"] and "HAVE_UUID_UUID_H 1" not in plain["pyconfig.h"]
    assert "/* #undef HAVE_BROKEN_NICE */" in plain["pyconfig.h"]
    assert "/* #undef POSIX_SEMAPHORES_NOT_ENABLED */" in plain["pyconfig.h"]
    assert "-DCALLER" not in plain["Makefile"] and f"{tmp_path}/nowhere" not in plain["Makefile"]
    assert niced["Makefile"] == plain["Makefile"], _diff(plain["Makefile"], niced["Makefile"])
    # The niceness reached configure (so the comparison can fail), and changed nothing else.
    changed = _diff(plain["pyconfig.h"], niced["pyconfig.h"]).splitlines()
    assert [line for line in changed if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-/* #undef HAVE_BROKEN_NICE */", "+#define HAVE_BROKEN_NICE 1"], "\n".join(changed)


def _diff(a: str, b: str) -> str:
    import difflib
    return "\n".join(list(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm=""))[:40])
