"""Release gates for the pscache layer tree (stdlib only, no binutils needed).

ELF gate: every ELF file must match the target machine, need at most a given GLIBC_/GLIBCXX_/CXXABI_ version,
need only libraries that ship in the layer or that every Lambda OS has, and carry only $ORIGIN-relative
DT_RPATH (no DT_RUNPATH: Lambda's LD_LIBRARY_PATH would override it).
Content gate: no unexpected packages (from the tree and the Nuitka report), botocore data only from the keep list,
no symlinks, modes 755/644.

Usage: python build/gate.py LAYER_DIR [--glibc-max 2.26] [--arch x86_64|arm64] [--report report.xml]
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import re
import stat
import struct
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# Present on AL2 and AL2023 (and never bundled by Nuitka): anything else must ship in the layer.
SYSTEM_LIBS = frozenset({
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    "libz.so.1", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
})
GLIBCXX_MAX = (3, 4, 24)   # AL2 ships GCC 7's libstdc++
CXXABI_MAX = (1, 3, 11)    # same GCC 7 libstdc++
RELEASE_GLIBC_MAX = (2, 26)  # AL2; AL2023 has 2.34

# Import names that pscache never uses; finding one means an exclusion stopped working.
FORBIDDEN_PACKAGES = frozenset({
    "s3transfer", "uvloop", "httptools", "websockets", "wsproto", "watchfiles", "httpx", "awscrt",
    "cryptography", "moto", "flask", "yaml", "pydantic", "pytest", "setuptools", "pip", "nuitka",
    "boto3.s3", "boto3.dynamodb", "boto3.ec2",
    "locallambda", "bench",  # this repository's local Lambda and benchmarks: development only
})

EM = {62: "x86_64", 183: "arm64"}
ARCH_EM = {v: k for k, v in EM.items()}

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 14, 15, 29
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF


class ElfError(ValueError):
    pass


@dataclass
class ElfInfo:
    path: str
    machine: int
    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)
    # library file name -> version names needed from it, e.g. {"libc.so.6": {"GLIBC_2.17"}}
    versions: dict[str, set[str]] = field(default_factory=dict)

    def max_version(self, prefix: str) -> tuple[int, ...] | None:
        best = None
        for names in self.versions.values():
            for n in names:
                v = parse_version(n, prefix)
                if v is not None and (best is None or v > best):
                    best = v
        return best


def parse_version(name: str, prefix: str) -> tuple[int, ...] | None:
    m = re.fullmatch(re.escape(prefix) + r"(\d+(?:\.\d+)*)", name)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def fmt_version(v: tuple[int, ...] | None) -> str:
    return "-" if v is None else ".".join(map(str, v))


def is_elf(path: str | os.PathLike) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def read_elf(path: str | os.PathLike) -> ElfInfo:
    """Read the dynamic section through the program headers, the way ld.so does (works on stripped files)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise ElfError(f"{path}: not an ELF file")
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        raise ElfError(f"{path}: bad ELF class/encoding")
    e = "<" if enc == 1 else ">"
    is64 = cls == 2
    try:
        if is64:
            _, machine, _, _, phoff, _, _, _, phentsize, phnum = struct.unpack_from(e + "HHIQQQIHHH", data, 16)
            ph_fmt, dyn_fmt = e + "IIQQQQQQ", e + "qQ"
        else:
            _, machine, _, _, phoff, _, _, _, phentsize, phnum = struct.unpack_from(e + "HHIIIIIHHH", data, 16)
            ph_fmt, dyn_fmt = e + "IIIIIIII", e + "iI"
        loads, dyn = [], None
        for i in range(phnum):
            f = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
            if is64:
                p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = f
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, _, _, _ = f
            if p_type == PT_LOAD:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == PT_DYNAMIC:
                dyn = (p_offset, p_filesz)
        info = ElfInfo(path=str(path), machine=machine)
        if dyn is None:
            return info  # static executable or object: needs nothing at run time

        def off(vaddr: int) -> int:
            for va, fo, sz in loads:
                if va <= vaddr < va + sz:
                    return vaddr - va + fo
            raise ElfError(f"{path}: address {vaddr:#x} is outside every PT_LOAD segment")

        entries, pos, step = [], dyn[0], struct.calcsize(dyn_fmt)
        while pos + step <= dyn[0] + dyn[1]:
            tag, val = struct.unpack_from(dyn_fmt, data, pos)
            if tag == DT_NULL:
                break
            entries.append((tag, val))
            pos += step
        tags = {}
        for tag, val in entries:
            tags.setdefault(tag, val)
        if DT_STRTAB not in tags:
            raise ElfError(f"{path}: dynamic section without DT_STRTAB")
        strtab = off(tags[DT_STRTAB])

        def s(o: int) -> str:
            end = data.index(b"\0", strtab + o)
            return data[strtab + o:end].decode("utf-8", "replace")

        for tag, val in entries:
            if tag == DT_NEEDED:
                info.needed.append(s(val))
            elif tag == DT_SONAME:
                info.soname = s(val)
            elif tag == DT_RPATH:
                info.rpath.extend(p for p in s(val).split(":") if p)
            elif tag == DT_RUNPATH:
                info.runpath.extend(p for p in s(val).split(":") if p)
        if DT_VERNEED in tags:
            pos, count = off(tags[DT_VERNEED]), tags.get(DT_VERNEEDNUM, 0)
            for _ in range(count):
                _, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from(e + "HHIII", data, pos)
                lib = s(vn_file)
                apos = pos + vn_aux
                for _ in range(vn_cnt):
                    _, _, _, vna_name, vna_next = struct.unpack_from(e + "IHHII", data, apos)
                    info.versions.setdefault(lib, set()).add(s(vna_name))
                    if not vna_next:
                        break
                    apos += vna_next
                if not vn_next:
                    break
                pos += vn_next
        return info
    except (struct.error, IndexError, ValueError) as exc:
        if isinstance(exc, ElfError):
            raise
        raise ElfError(f"{path}: truncated or malformed ELF ({exc})") from exc


@dataclass
class GateResult:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    elf: list[ElfInfo] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _walk(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            yield Path(dirpath) / name


def check_elf(root: str | os.PathLike, glibc_max: tuple[int, ...] = RELEASE_GLIBC_MAX, arch: str | None = None,
              result: GateResult | None = None) -> GateResult:
    root = Path(root)
    r = result or GateResult()
    files = [p for p in _walk(root) if p.is_file() and not p.is_symlink()]
    shipped = {p.name for p in files}
    for p in files:
        if not is_elf(p):
            continue
        rel = p.relative_to(root).as_posix()
        try:
            info = read_elf(p)
        except ElfError as exc:
            r.errors.append(str(exc))
            continue
        info.path = rel
        r.elf.append(info)
        if arch and info.machine != ARCH_EM[arch]:
            r.errors.append(f"{rel}: machine {EM.get(info.machine, info.machine)}, expected {arch}")
        for names in info.versions.values():
            for n in sorted(names):
                if n.startswith("GLIBC_PRIVATE"):
                    r.errors.append(f"{rel}: needs {n} (internal glibc ABI)")
        g = info.max_version("GLIBC_")
        if g is not None and g > tuple(glibc_max):
            r.errors.append(f"{rel}: needs GLIBC_{fmt_version(g)} > {fmt_version(tuple(glibc_max))}")
        for prefix, ceiling in (("GLIBCXX_", GLIBCXX_MAX), ("CXXABI_", CXXABI_MAX)):
            v = info.max_version(prefix)
            if v is not None and v > ceiling:
                r.errors.append(f"{rel}: needs {prefix}{fmt_version(v)} > {fmt_version(ceiling)}")
        for lib in info.needed:
            if lib in SYSTEM_LIBS:
                continue
            if lib not in shipped:
                r.errors.append(f"{rel}: needs {lib}, which is neither in the layer nor on every Lambda OS")
            elif not _reachable(p, lib, info.rpath):
                # The main binary may have loaded it already by soname; worth a look, not a failure.
                r.warnings.append(f"{rel}: {lib} is shipped but not on this file's $ORIGIN rpath")
        for entry in info.rpath:
            if not entry.startswith("$ORIGIN"):
                r.errors.append(f"{rel}: DT_RPATH entry {entry!r} does not start with $ORIGIN")
        if info.runpath:
            r.errors.append(f"{rel}: has DT_RUNPATH {':'.join(info.runpath)} (LD_LIBRARY_PATH would override it; "
                            "use DT_RPATH)")
    return r


def _reachable(path: Path, lib: str, rpath: list[str]) -> bool:
    for entry in rpath:
        d = Path(entry.replace("$ORIGIN", str(path.parent)).replace("${ORIGIN}", str(path.parent)))
        if (d / lib).is_file():
            return True
    return False


def load_keep_patterns(path: str | os.PathLike) -> list[tuple[str, bool]]:
    """Keep list: one glob a line, relative to botocore/data; a trailing '?' marks it optional."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        optional = line.endswith("?")
        out.append((line.rstrip("?").strip(), optional))
    return out


def check_botocore_data(data_dir: str | os.PathLike, keep: list[tuple[str, bool]], label: str = "botocore/data",
                        result: GateResult | None = None) -> GateResult:
    r = result or GateResult()
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        r.errors.append(f"{label}: missing")
        return r
    files = sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file())
    for f in files:
        if not any(fnmatch.fnmatchcase(f, pat) for pat, _ in keep):
            r.errors.append(f"{label}/{f}: not in the keep list")
    for pat, optional in keep:
        if not optional and not any(fnmatch.fnmatchcase(f, pat) for f in files):
            r.errors.append(f"{label}: nothing matches required pattern {pat!r}")
    return r


def report_modules(report: str | os.PathLike) -> dict[str, str]:
    """Module name -> kind from a Nuitka --report XML."""
    out = {}
    for m in ET.parse(report).getroot().iter("module"):
        name = m.get("name")
        if name:
            out[name] = m.get("kind", "")
    return out


def _forbidden(name: str, forbidden=FORBIDDEN_PACKAGES) -> str | None:
    for f in forbidden:
        if name == f or name.startswith(f + "."):
            return f
    return None


def read_list(path: str | os.PathLike) -> list[str]:
    """Non-empty, non-comment lines of a list file."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip() and not line.startswith("#")]


def check_content(layer: str | os.PathLike, keep: list[tuple[str, bool]] | None = None,
                  report: str | os.PathLike | None = None, result: GateResult | None = None,
                  forbidden=FORBIDDEN_PACKAGES) -> GateResult:
    layer = Path(layer)
    r = result or GateResult()
    top = sorted(p.name for p in layer.iterdir())
    if top != ["extensions", "pscache"]:
        r.errors.append(f"layer top level is {top}, expected ['extensions', 'pscache']")
    ext = sorted(p.name for p in (layer / "extensions").iterdir()) if (layer / "extensions").is_dir() else []
    if ext != ["pscache"]:
        r.errors.append(f"extensions/ holds {ext}, expected only the 'pscache' launcher")
    for p in [layer] + list(_walk(layer)) + [d for d in layer.rglob("*") if d.is_dir()]:
        rel = p.relative_to(layer).as_posix() or "."
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            r.errors.append(f"{rel}: is a symlink")
        elif stat.S_ISDIR(st.st_mode):
            if stat.S_IMODE(st.st_mode) != 0o755:
                r.errors.append(f"{rel}/: mode {stat.S_IMODE(st.st_mode):o}, expected 755")
        elif stat.S_ISREG(st.st_mode):
            if stat.S_IMODE(st.st_mode) not in (0o755, 0o644):
                r.errors.append(f"{rel}: mode {stat.S_IMODE(st.st_mode):o}, expected 755 or 644")
        else:
            r.errors.append(f"{rel}: not a regular file or folder")
    launcher = layer / "extensions" / "pscache"
    if launcher.is_file() and not (os.stat(launcher).st_mode & 0o111):
        r.errors.append("extensions/pscache is not executable")
    binary = layer / "pscache" / "pscache"
    if not binary.is_file() or not (os.stat(binary).st_mode & 0o111):
        r.errors.append("pscache/pscache (the compiled binary) is missing or not executable")
    dist = layer / "pscache"
    if dist.is_dir():
        for p in _walk(dist):
            parts = p.relative_to(dist).with_suffix("").as_posix().split("/")
            if parts[0] == "lib":  # the third-party packages shipped as .pyc
                parts = parts[1:]
            name = ".".join(parts).split(".cpython-")[0]
            hit = _forbidden(name, forbidden)
            if hit:
                r.errors.append(f"pscache/{p.relative_to(dist).as_posix()}: unexpected package {hit}")
        if keep is not None:
            data = dist / "lib" / "botocore" / "data"
            check_botocore_data(data, keep, "pscache/lib/botocore/data", r)
    if report is not None:
        for name, kind in sorted(report_modules(report).items()):
            hit = _forbidden(name, forbidden)
            if hit:
                r.errors.append(f"report: module {name} ({kind}) is unexpected ({hit})")
    return r


def format_summary(r: GateResult, glibc_max: tuple[int, ...]) -> str:
    lines = []
    worst = max((i.max_version("GLIBC_") or () for i in r.elf), default=())
    lines.append(f"ELF files: {len(r.elf)}; max GLIBC needed: {fmt_version(worst or None)} "
                 f"(ceiling {fmt_version(tuple(glibc_max))}; AL2 2.26, AL2023 2.34)")
    for i in sorted(r.elf, key=lambda i: i.max_version("GLIBC_") or (), reverse=True)[:5]:
        lines.append(f"  {fmt_version(i.max_version('GLIBC_')):>6}  {i.path}")
    cxx = [i for i in r.elf if "libstdc++.so.6" in i.needed]
    if cxx:
        lines.append("libstdc++ needed by: " + ", ".join(i.path for i in cxx))
    for w in r.warnings:
        lines.append("warning: " + w)
    for e in r.errors:
        lines.append("ERROR: " + e)
    lines.append("gate: " + ("PASS" if r.ok else f"FAIL ({len(r.errors)} errors)"))
    return "\n".join(lines)


def host_glibc() -> tuple[int, ...]:
    v = os.confstr("CS_GNU_LIBC_VERSION") or ""  # e.g. "glibc 2.36"
    m = re.search(r"(\d+(?:\.\d+)+)", v)
    if not m:
        raise RuntimeError(f"cannot read the host glibc version ({v!r})")
    return tuple(int(x) for x in m.group(1).split("."))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("layer", help="layer tree (holds extensions/ and pscache/)")
    ap.add_argument("--glibc-max", default="2.26", help="highest GLIBC_ version allowed, or 'host'")
    ap.add_argument("--arch", choices=sorted(ARCH_EM), help="expected ELF machine")
    ap.add_argument("--report", help="Nuitka --report XML to check for unexpected modules")
    ap.add_argument("--keep", default=str(Path(__file__).with_name("botocore-data-keep.txt")),
                    help="botocore data keep list")
    a = ap.parse_args(argv)
    ceiling = host_glibc() if a.glibc_max == "host" else tuple(int(x) for x in a.glibc_max.split("."))
    r = check_elf(a.layer, ceiling, a.arch)
    check_content(a.layer, load_keep_patterns(a.keep), a.report, r)
    print(format_summary(r, ceiling))
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
