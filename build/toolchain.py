#!/usr/bin/env python3
"""Release toolchain: zig pinned to glibc 2.26, and zlib, libffi, OpenSSL and CPython built with it.

  python3 build/toolchain.py --arch x86_64                 build (or reuse) the toolchain, print its folder
  python3 build/toolchain.py --arch x86_64 layer [ARGS]    then build the layer with it (ARGS go to build_layer.py)
  <arm64 toolchain>/python/bin/python3.13 build/toolchain.py --arch arm64 layer [ARGS]   the same, in an arm64 userland

Every input is pinned in build/toolchain-pins.txt. The result goes to <root>/<key>/<arch>, where the key hashes the
pins, RECIPE (bump it when a build step changes) and the fixed configure answers: unchanged, it is reused. The root
is a fixed path (/opt/pscache-toolchain; --root or $PSCACHE_TOOLCHAIN_ROOT to change it): the toolchain's paths are
compiled into libpython, libcrypto and the layer's sysconfig, so the same root on every machine gives the same
bytes (docs/building.md). Downloads: --cache, else $PSCACHE_CACHE_DIR, else ~/.cache/pscache. Stdlib only.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PINS_FILE = HERE / "toolchain-pins.txt"
RECIPE = "3"  # bump when a build step below changes what the toolchain holds
GLIBC = "2.26"
TARGETS = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
OPENSSL_TARGETS = {"x86_64": "linux-x86_64", "arm64": "linux-aarch64"}
JOBS = "2"
SOURCE_DATE_EPOCH = "1767225600"  # 2026-01-01: __DATE__/__TIME__ in libpython, so a rebuild gives the same bytes
FIXED_ROOT = "/opt/pscache-toolchain"
# The builds see this environment and nothing else of the caller's: configure records the programs it finds on PATH
# (grep, sed, mkdir, install, pkg-config, the regen Python: a pyenv shim or /usr/local would change sysconfig),
# and the locale and time zone reach its scripts.
BUILD_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "TZ": "UTC0", "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
# CPython's configure runs test programs; these answers depend on the building process or root, not on the
# target, so they are given (CONFIG_SITE, both architectures; a cross build would otherwise take its defaults).
# tests/test_toolchain_config.py checks that every run-time probe of configure is here or reviewed as the target's.
CONFIGURE_CACHE = {
    "ac_cv_broken_nice": "no",  # nice(1), nice(2): at niceness 19 both return 19 and configure says "broken"
    "ac_cv_posix_semaphores_enabled": "yes",  # sem_open: fails where the building root has no /dev/shm
    "ac_cv_broken_sem_getvalue": "no",  # the same; cross default "yes"
    "ac_cv_pthread_system_supported": "yes",  # creates a thread: fails under a process or pids limit
    "ac_cv_buggy_getaddrinfo": "no",  # resolves "localhost": depends on /etc/hosts and the network
    "ac_cv_working_tzset": "yes",  # cross default "no"
    "ac_cv_broken_poll": "no",
    "ac_cv_broken_mbstowcs": "no",  # runs in the caller's locale
    "ac_cv_file__dev_ptmx": "yes",  # device nodes of the building root (a chroot or container may lack them)
    "ac_cv_file__dev_ptc": "no",
}
LICENSE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)([.-].*)?$", re.I)


def log(msg: str) -> None:
    print(f"[toolchain] {msg}", flush=True)


class Pin:
    def __init__(self, name: str, version: str, file: str, sha256: str, license: str, urls: list[str]):
        self.name, self.version, self.file, self.sha256, self.license, self.urls = \
            name, version, file, sha256, license, urls


def read_pins(path: Path = PINS_FILE) -> dict[str, Pin]:
    pins = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        f = line.split()
        if len(f) < 6 or len(f[3]) != 64:
            sys.exit(f"{path}:{n}: expected 'name version file sha256 license url...', got {line!r}")
        pins[f[0]] = Pin(f[0], f[1], f[2], f[3], f[4], f[5:])
    return pins


def cache_root(cli: str | None) -> Path:
    base = cli or os.environ.get("PSCACHE_CACHE_DIR") or \
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pscache")
    return Path(base).resolve()


def toolchain_root(cli: str | None) -> Path:
    """The fixed folder toolchains are built in (made here when it can be)."""
    root = Path(cli or os.environ.get("PSCACHE_TOOLCHAIN_ROOT") or FIXED_ROOT)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        sys.exit(f"toolchain root {root} is not writable ({exc.strerror}): create it once with "
                 f"'sudo install -d -o $USER {root}', or set PSCACHE_TOOLCHAIN_ROOT to another folder "
                 "(the layer's bytes then differ from a build in the default root)")
    return root


def config_site(answers: dict[str, str] = CONFIGURE_CACHE) -> str:
    return "".join(f"{k}={v}\n" for k, v in sorted(answers.items()))


def toolchain_key() -> str:
    fixed = f"recipe {RECIPE}\n{config_site()}{sorted(BUILD_ENV.items())}"
    return hashlib.sha256(PINS_FILE.read_bytes() + fixed.encode()).hexdigest()[:12]


def build_env() -> dict[str, str]:
    """The environment of every build step: BUILD_ENV and HOME, nothing else of the caller's (CFLAGS, MAKEFLAGS,
    PYTHONPATH, CONFIG_SITE...)."""
    return dict(BUILD_ENV, HOME=os.environ.get("HOME", "/"))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_dirs(extra: list[str]) -> list[Path]:
    dirs = [Path(d) for d in extra]
    dirs += [Path(d) for d in os.environ.get("PSCACHE_TOOLCHAIN_SOURCES", "").split(os.pathsep) if d]
    dirs.append(REPO.parent / "shared" / "toolchain-sources")
    return dirs


def fetch(pin: Pin, dirs: list[Path], downloads: Path) -> Path:
    """The pinned file: from the first folder or url that has it with the pinned hash. A file of the right name
    with another hash stops the build (a changed source must be re-pinned, never taken silently)."""
    for d in dirs + [downloads]:
        p = d / pin.file
        if p.is_file():
            got = sha256_of(p)
            if got != pin.sha256:
                sys.exit(f"{PINS_FILE}: {pin.name} {pin.version}: {p} has sha256 {got}, expected {pin.sha256}")
            return p
    downloads.mkdir(parents=True, exist_ok=True)
    # Names of this call's own: two builds at once (CI's background toolchains beside a test) may fetch one file.
    fd, name = tempfile.mkstemp(prefix=pin.file + ".", suffix=".part", dir=downloads)
    os.close(fd)
    tmp, failures = Path(name), []
    try:
        for url in pin.urls:
            try:
                if url.startswith("pypi:"):
                    pip_download(url[5:], pin.file, tmp)
                else:
                    log(f"downloading {url}")
                    with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as out:
                        shutil.copyfileobj(r, out)
            except (OSError, subprocess.CalledProcessError) as exc:
                failures.append(f"{url}: {getattr(exc, 'stderr', None) or exc}".strip())
                continue
            got = sha256_of(tmp)
            if got != pin.sha256:
                sys.exit(f"{PINS_FILE}: {pin.name} {pin.version}: {url} has sha256 {got}, expected {pin.sha256}")
            tmp.chmod(0o644)  # mkstemp's 0600 otherwise
            return tmp.replace(downloads / pin.file)
    finally:
        tmp.unlink(missing_ok=True)
    sys.exit(f"{pin.name} {pin.version}: {pin.file} not found in " + ", ".join(map(str, dirs + [downloads])) +
             " and not downloadable:\n  " + "\n  ".join(failures))


def pip_download(requirement: str, file: str, dest: Path) -> None:
    """A wheel through pip download, into a folder of this call's own beside dest, then moved to dest."""
    got_dir = Path(tempfile.mkdtemp(prefix="pip.", suffix=".part", dir=dest.parent))
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--platform", "manylinux_2_12_x86_64", "-d", str(got_dir), requirement],
                       check=True, capture_output=True, text=True)
        found = got_dir / file
        if not found.is_file():
            raise OSError(f"pip downloaded {[p.name for p in got_dir.iterdir()]}, not {file}")
        found.replace(dest)
    finally:
        shutil.rmtree(got_dir, ignore_errors=True)


def extract_wheel(wheel: Path, dest: Path) -> None:
    """A wheel is a zip; zipfile drops mode bits, so restore them (zig must stay executable)."""
    with zipfile.ZipFile(wheel) as z:
        z.extractall(dest)
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(dest / info.filename, mode)


def wrappers(bin_dir: Path, zig: Path, zig_cache: Path, arch: str) -> dict[str, Path]:
    """Compiler wrappers that always pass the glibc-pinned target: without -target, zig links against the host's
    glibc. SCons runs compilers with a bare environment (no HOME), so zig's cache folder is given explicitly."""
    target = f"{TARGETS[arch]}.{GLIBC}"
    head = f'#!/bin/sh\n: "${{ZIG_GLOBAL_CACHE_DIR:={zig_cache}}}"\nexport ZIG_GLOBAL_CACHE_DIR\nZIG="{zig}"\n'
    gcc_like = (
        # Nuitka's SCons probes `gcc -dumpversion -dumpfullversion`, which clang rejects.
        'case " $* " in *" -dumpversion "*|*" -dumpfullversion "*) echo 12.2.0; exit 0 ;; esac\n'
        '[ "$1" = version ] && exec "$ZIG" version\n'
    )
    scripts = {
        f"zigcc-{arch}": head + gcc_like + f'exec "$ZIG" cc -target {target} "$@"\n',
        f"zigcxx-{arch}": head + gcc_like + f'exec "$ZIG" c++ -target {target} "$@"\n',
        # Nuitka's CC: its name holds "zig", so Nuitka drives it like the zig CLI (`$CC cc ...`, `$CC version`).
        f"zig-{arch}": head + (
            'case "$1" in\n'
            f'  --version|-dumpversion|-dumpfullversion) exec "$(dirname "$0")/zigcc-{arch}" "$@" ;;\n'
            f'  cc|c++) sub=$1; shift; exec "$ZIG" "$sub" -target {target} "$@" ;;\n'
            '  *) exec "$ZIG" "$@" ;;\nesac\n'),
        "zigar": head + 'exec "$ZIG" ar "$@"\n',
        "zigranlib": head + 'exec "$ZIG" ranlib "$@"\n',
    }
    bin_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, text in scripts.items():
        p = bin_dir / name
        p.write_text(text)
        p.chmod(0o755)
        out[name] = p
    return out


class Builder:
    def __init__(self, work: Path, logs: Path):
        self.work, self.logs = work, logs

    def run(self, step: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        logfile = self.logs / f"{step}.log"
        with open(logfile, "ab") as out:
            out.write(("$ " + " ".join(cmd) + "\n").encode())
            out.flush()
            r = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        if r.returncode:
            tail = logfile.read_text(errors="replace").splitlines()[-30:]
            sys.exit("\n".join(tail) + f"\n{step}: {' '.join(cmd)} failed (exit {r.returncode}); log: {logfile}")

    def unpack(self, archive: Path, name: str, licenses: Path) -> Path:
        """Unpack into work/<name>; its top-level license files go to licenses/<name> (the layer's NOTICE)."""
        dest = self.work / name
        shutil.rmtree(dest, ignore_errors=True)
        with tarfile.open(archive) as t:
            top = {m.name.split("/")[0] for m in t.getmembers()}
            if len(top) != 1:
                sys.exit(f"{archive}: expected one top folder, found {sorted(top)}")
            t.extractall(self.work, filter="tar") if hasattr(tarfile, "data_filter") else t.extractall(self.work)
        (self.work / top.pop()).rename(dest)
        for f in sorted(dest.iterdir()):
            if f.is_file() and LICENSE_FILE.match(f.name):
                (licenses / name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, licenses / name / f.name)
        return dest


def cpython_configure(b: Builder, src: Path, arch: str, root: Path, python: Path, deps: Path, penv: dict,
                      answers: dict[str, str] = CONFIGURE_CACHE) -> None:
    """CPython's configure as the recipe runs it (tests/test_toolchain_config.py runs it too)."""
    site = b.work / "config.site"
    site.write_text(config_site(answers))
    penv = dict(penv, CONFIG_SITE=str(site))
    extra = []
    if arch != "x86_64":
        extra = [f"--host={TARGETS[arch]}", "--build=x86_64-pc-linux-gnu",
                 f"--with-build-python={root / 'x86_64' / 'python' / 'bin' / 'python3.13'}"]
    b.run("cpython", ["./configure", f"--prefix={python}", f"--with-openssl={deps}",
                      f"--with-openssl-rpath={deps}/lib", "--disable-test-modules", *extra], src, penv)


def cpython_env(env: dict[str, str], deps: Path) -> dict[str, str]:
    return dict(env, PKG_CONFIG_LIBDIR=f"{deps}/lib/pkgconfig", PKG_CONFIG_PATH="", CPPFLAGS=f"-I{deps}/include",
                LDFLAGS=f"-L{deps}/lib",
                # zig makes __DATE__/__TIME__ an error (getbuildinfo.c); SOURCE_DATE_EPOCH fixes their value
                CFLAGS="-Wno-date-time")


def compiler_env(home: Path, zig: Path, root: Path, arch: str) -> dict[str, str]:
    w = wrappers(home / "bin", zig, root / "zig-cache", arch)
    return dict(build_env(), CC=str(w[f"zigcc-{arch}"]), CXX=str(w[f"zigcxx-{arch}"]), AR=str(w["zigar"]),
                RANLIB=str(w["zigranlib"]), CFLAGS="-O2 -fPIC")


def unpack_zig(wheel: Path, root: Path) -> Path:
    zig_dir = root / "zig"
    if not (zig_dir / "ziglang" / "zig").is_file():
        shutil.rmtree(zig_dir, ignore_errors=True)
        extract_wheel(wheel, zig_dir)
    return zig_dir / "ziglang" / "zig"


def build(arch: str, top: Path, cache: Path, extra_sources: list[str]) -> Path:
    """Build the toolchain for arch in <top>/<key>/<arch> (once per key); return that folder."""
    root = top / toolchain_key()
    if arch != "x86_64" and not (root / "x86_64" / ".complete").is_file():
        build("x86_64", top, cache, extra_sources)  # a cross CPython build needs a native one of the same version
    pins = read_pins()
    home = root / arch
    if (home / ".complete").is_file():
        log(f"reusing {home} (pins unchanged)")
        return home
    if not shutil.which("pkg-config", path=BUILD_ENV["PATH"]):
        # Without it CPython's configure still finds zlib and libffi, but records other flags in sysconfig: the
        # toolchain, and so the layer, would differ from one built where pkg-config is installed.
        sys.exit("pkg-config not found: the toolchain build needs it (scripts/system-packages release)")
    t0 = time.monotonic()
    os.umask(0o022)  # the installed tree's modes (the layer's files are set explicitly, but the toolchain's not)
    files = {name: fetch(pin, source_dirs(extra_sources), cache / "toolchain-sources") for name, pin in pins.items()}
    zig = unpack_zig(files["ziglang"], root)
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = compiler_env(home, zig, root, arch)
    deps, python = home / "deps", home / "python"
    b = Builder(home / "work", home / "logs")
    b.work.mkdir()
    b.logs.mkdir()
    cross = arch != "x86_64"
    host = [f"--host={TARGETS[arch]}", "--build=x86_64-pc-linux-gnu"] if cross else []

    log(f"zlib {pins['zlib'].version}")
    src = b.unpack(files["zlib"], "zlib", home / "licenses")
    zenv = dict(env, CHOST=TARGETS[arch]) if cross else env
    b.run("zlib", ["./configure", f"--prefix={deps}", "--static"], src, zenv)
    b.run("zlib", ["make", f"-j{JOBS}", "install"], src, zenv)

    # Static: only the build Python needs _ctypes (Nuitka imports ctypes); the layer never ships it.
    log(f"libffi {pins['libffi'].version}")
    src = b.unpack(files["libffi"], "libffi", home / "licenses")
    b.run("libffi", ["./configure", f"--prefix={deps}", f"--libdir={deps}/lib", "--disable-shared", "--enable-static",
                     "--disable-docs", "--disable-multi-os-directory",
                     "--disable-exec-static-tramp",  # clang rejects tramp.c's implicit declaration
                     *host], src, env)
    b.run("libffi", ["make", f"-j{JOBS}", "install"], src, env)

    # Shared, as Python's _ssl expects; OPENSSLDIR is where AL2 and AL2023 keep theirs.
    log(f"openssl {pins['openssl'].version}")
    src = b.unpack(files["openssl"], "openssl", home / "licenses")
    b.run("openssl", ["./Configure", OPENSSL_TARGETS[arch], "shared", "no-tests", f"--prefix={deps}", "--libdir=lib",
                      "--openssldir=/etc/pki/tls", f"CC={env['CC']}", f"AR={env['AR']}", f"RANLIB={env['RANLIB']}"],
          src, {k: v for k, v in env.items() if k not in ("CC", "AR", "RANLIB", "CFLAGS")})
    b.run("openssl", ["make", f"-j{JOBS}", "build_libs"], src, env)
    b.run("openssl", ["make", "install_dev"], src, env)

    log(f"cpython {pins['cpython'].version}")
    src = b.unpack(files["cpython"], "cpython", home / "licenses")
    penv = cpython_env(env, deps)
    cpython_configure(b, src, arch, root, python, deps, penv)
    b.run("cpython", ["make", f"-j{JOBS}"], src, penv)
    b.run("cpython", ["make", "install"], src, penv)
    shutil.rmtree(b.work)
    (home / ".complete").write_text(f"{toolchain_key()} built in {time.monotonic() - t0:.0f}s\n")
    log(f"built {home} in {time.monotonic() - t0:.0f}s")
    return home


def layer_env(home: Path, arch: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CC"] = str(home / "bin" / f"zig-{arch}")
    # libssl.so.3 has no rpath: without this Nuitka's dependency scan picks up the host's libcrypto.
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(home / "deps" / "lib"), env.get("LD_LIBRARY_PATH")]))
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=sorted(TARGETS), default="x86_64")
    ap.add_argument("--root", help=f"where toolchains are built (default $PSCACHE_TOOLCHAIN_ROOT or {FIXED_ROOT})")
    ap.add_argument("--cache", help="download cache (default $PSCACHE_CACHE_DIR or ~/.cache/pscache)")
    ap.add_argument("--sources", action="append", default=[], help="folder holding the pinned source files")
    ap.add_argument("command", nargs="?", choices=("toolchain", "layer"), default="toolchain")
    ap.add_argument("layer_args", nargs=argparse.REMAINDER, help="for 'layer': arguments for build_layer.py")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    home = build(a.arch, toolchain_root(a.root), cache_root(a.cache), a.sources)
    took = time.monotonic() - t0
    if a.command == "toolchain":
        print(home)
        return 0
    if a.arch == "arm64" and platform.machine() != "aarch64":
        # Nuitka runs the target's Python and reads its ELF files: the toolchain's aarch64 CPython must run this.
        sys.exit("the arm64 layer is built from an arm64 userland (scripts/build-layer --release --arch arm64, "
                 "or Dockerfile.build), by the toolchain's own python3.13")
    python = home / "python" / "bin" / "python3.13"
    cmd = [str(python), str(HERE / "build_layer.py"), "--python", str(python), "--glibc-max", GLIBC,
           "--static-libpython", "yes", "--toolchain-seconds", f"{took:.1f}", "--toolchain", str(home),
           "--out", str(REPO / "build" / "out" / f"release-{a.arch}"), *a.layer_args]
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, env=layer_env(home, a.arch)).returncode


if __name__ == "__main__":
    sys.exit(main())
