#!/usr/bin/env python3
"""Known-vulnerability gate for what the release layer ships; fails on any finding not in the allow-list.

  python3 build/audit.py --pip-audit <path to pip-audit> [--allow build/audit-allowlist.txt]

1. Python packages (build/requirements-layer.txt): pip-audit against PyPI's advisory data. A package pip-audit
   cannot look up (this machine's PyPI serves no per-version JSON) is checked against the advisories PyPI lists on
   the project's JSON, which cover its latest release: exact when the pin is the latest, else reported as such.
2. Native sources (build/toolchain-pins.txt): the pinned CPython, OpenSSL, zlib and libffi must be the newest
   patch release of their series that Debian ships (its security team backports every fix there): a newer one
   means fixes the layer lacks. Read from the mirror's Sources indexes.
Allow-list: one '<id>  <reason>' a line; <id> is an advisory id (PYSEC-, GHSA-, CVE-) or '<component>@<version>'
for a newer native release that may be missing. An entry without a reason is an error.
"""
from __future__ import annotations

import argparse
import json
import lzma
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import toolchain  # noqa: E402

MIRROR = "http://deb.debian.org"
# Debian source package per pinned component, and the suites whose Sources indexes are searched.
DEBIAN = {"cpython": "python3.13", "openssl": "openssl", "zlib": "zlib", "libffi": "libffi"}
SUITES = ["debian/dists/bookworm/main", "debian-security/dists/bookworm-security/main",
          "debian/dists/trixie/main", "debian-security/dists/trixie-security/main", "debian/dists/sid/main"]


def read_allow(path: Path) -> dict[str, str]:
    allow = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, _, reason = line.strip().partition(" ")
        if not reason.strip():
            sys.exit(f"{path}:{n}: allow-list entry {key!r} has no reason")
        allow[key] = reason.strip()
    return allow


def version_key(v: str) -> tuple:
    return tuple(int(x) if x.isdigit() else -1 for x in re.split(r"[.]", re.sub(r"[^0-9.].*$", "", v)))


def pins() -> list[tuple[str, str]]:
    out = []
    for line in (HERE / "requirements-layer.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out.append((name.strip(), version.strip()))
    return out


def audit_python(pip_audit: str, allow: dict[str, str]) -> tuple[list[str], list[str]]:
    """(findings, notes)"""
    findings, notes = [], []
    r = subprocess.run([pip_audit, "-r", str(HERE / "requirements-layer.txt"), "--no-deps", "--disable-pip",
                        "-s", "pypi", "-f", "json", "--progress-spinner", "off"], capture_output=True, text=True)
    try:
        report = json.loads(r.stdout)
    except json.JSONDecodeError:
        sys.exit(f"pip-audit failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
    skipped, pinned = [], {n.lower().replace("_", "-"): v for n, v in pins()}
    for dep in report.get("dependencies", []):
        for v in dep.get("vulns", []):
            ids = [v["id"], *v.get("aliases", [])]
            hit = next((i for i in ids if i in allow), None)
            line = f"{dep['name']} {dep['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions', [])) or '-'})"
            (notes if hit else findings).append(line + (f": allowed: {allow[hit]}" if hit else ""))
        if "skip_reason" in dep:
            skipped.append((dep["name"], dep.get("version") or pinned[dep["name"].lower().replace("_", "-")]))
    audited = len(report.get("dependencies", [])) - len(skipped)
    notes.append(f"pip-audit: {audited} packages audited, {len(skipped)} not found by its PyPI service")
    for name, version in skipped:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as resp:
            project = json.load(resp)
        latest = project["info"]["version"]
        for v in project.get("vulnerabilities") or []:
            if v.get("withdrawn"):
                continue
            fixed = v.get("fixed_in") or []
            if fixed and all(version_key(version) >= version_key(f) for f in fixed):
                continue  # fixed at or before the pin
            ids = [v["id"], *(v.get("aliases") or [])]
            hit = next((i for i in ids if i in allow), None)
            line = f"{name} {version}: {v['id']} (fixed in {', '.join(fixed) or '-'})"
            (notes if hit else findings).append(line + (f": allowed: {allow[hit]}" if hit else ""))
        if version != latest:
            notes.append(f"{name} {version}: checked against the advisories of {latest} (the latest) only")
    return findings, notes


def debian_versions(packages: set[str]) -> dict[str, set[str]]:
    """Upstream versions per source package in the SUITES' Sources indexes."""
    found: dict[str, set[str]] = {p: set() for p in packages}
    for suite in SUITES:
        url = f"{MIRROR}/{suite}/source/Sources.xz"
        with urllib.request.urlopen(url, timeout=120) as resp:
            text = lzma.decompress(resp.read()).decode("utf-8", "replace")
        for block in text.split("\n\n"):
            m = re.search(r"^Package: (\S+)$", block, re.M)
            if m and m.group(1) in packages:
                v = re.search(r"^Version: (\S+)$", block, re.M).group(1)
                v = v.split(":", 1)[-1].rsplit("-", 1)[0]
                v = v.split("really", 1)[-1]  # zlib's 1.3.dfsg+really1.3.1
                found[m.group(1)].add(re.sub(r"[+~].*$", "", v))
    return found


def audit_native(allow: dict[str, str]) -> tuple[list[str], list[str]]:
    findings, notes = [], []
    pinned = toolchain.read_pins()
    available = debian_versions(set(DEBIAN.values()))
    for name, package in DEBIAN.items():
        pin = pinned[name]
        series = pin.version.split(".")[:2]
        newer = sorted((v for v in available[package]
                        if v.split(".")[:2] == series and version_key(v) > version_key(pin.version)), key=version_key)
        if not newer:
            notes.append(f"{name} {pin.version}: newest {'.'.join(series)}.x in Debian ({package})")
            continue
        key = f"{name}@{newer[-1]}"
        line = f"{name} {pin.version}: Debian ships {newer[-1]} ({package}); re-pin build/toolchain-pins.txt"
        (notes if key in allow else findings).append(line + (f": allowed: {allow[key]}" if key in allow else ""))
    return findings, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pip-audit", required=True, help="the pip-audit executable")
    ap.add_argument("--allow", default=str(HERE / "audit-allowlist.txt"))
    a = ap.parse_args(argv)
    allow = read_allow(Path(a.allow))
    findings, notes = [], []
    for part in (audit_python(a.pip_audit, allow), audit_native(allow)):
        findings += part[0]
        notes += part[1]
    for n in notes:
        print(f"  ok    {n}")
    for f in findings:
        print(f"  FAIL  {f}")
    print(f"audit: {'FAIL' if findings else 'PASS'} ({len(findings)} findings; allow-list {a.allow})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
