"""What a layer ships, for people and scanners: a CycloneDX 1.5 SBOM, NOTICE and the license texts.

Called by build_layer.py on the layer's dist folder (pscache/): writes sbom.cdx.json, LICENSE (pscache's),
NOTICE (every component, its version and license) and licenses/<component>/ (their license texts). The native
components (CPython, OpenSSL, zlib, libffi) come from build/toolchain-pins.txt and the toolchain folder for a
release build, from the build Python itself otherwise; the Python packages from the build venv's metadata. Stdlib only; output is deterministic.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from toolchain import LICENSE_FILE, read_pins  # noqa: E402
CPE = {  # NVD's product names, so scanners match the native components
    "cpython": "cpe:2.3:a:python:python:{v}:*:*:*:*:*:*:*",
    "openssl": "cpe:2.3:a:openssl:openssl:{v}:*:*:*:*:*:*:*",
    "zlib": "cpe:2.3:a:zlib:zlib:{v}:*:*:*:*:*:*:*",
    "libffi": "cpe:2.3:a:libffi_project:libffi:{v}:*:*:*:*:*:*:*",
}
NATIVE_ROLE = {
    "cpython": "the embedded interpreter (static libpython) and its extension modules",
    "openssl": "libssl.so.3 and libcrypto.so.3 (TLS to AWS)",
    "zlib": "linked into CPython's zlib module",
    "libffi": "build only: the build Python's _ctypes (Nuitka imports ctypes); not in the layer",
}
CLASSIFIER_SPDX = {
    "MIT License": "MIT", "Apache Software License": "Apache-2.0", "BSD License": "BSD-3-Clause",
    "Python Software Foundation License": "PSF-2.0", "ISC License (ISCL)": "ISC",
}

# Run in the build venv: every installed distribution with its license fields and license files.
_METADATA = r"""
import json, sys
from importlib import metadata
out = []
for d in metadata.distributions():
    m = d.metadata
    files = [str(d.locate_file(f)) for f in (d.files or [])]
    out.append({"name": m["Name"], "version": d.version, "expression": m.get("License-Expression"),
                "license": m.get("License"), "classifiers": [c for c in m.get_all("Classifier") or []
                                                             if c.startswith("License ::")],
                "files": files, "top": (d.read_text("top_level.txt") or "").split()})
print(json.dumps(out))
"""


def _pinned_names() -> list[str]:
    names = []
    for line in (HERE / "requirements-layer.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            names.append(line.split("==")[0].strip().lower().replace("_", "-"))
    return names


def _license_of(d: dict) -> tuple[dict, str]:
    """CycloneDX license entry and a short text for NOTICE."""
    if d["expression"]:
        return {"expression": d["expression"]}, d["expression"]
    for c in d["classifiers"]:
        name = c.split(" :: ")[-1]
        if name in CLASSIFIER_SPDX:
            return {"license": {"id": CLASSIFIER_SPDX[name]}}, CLASSIFIER_SPDX[name]
    text = (d["license"] or "").strip()
    if text and "\n" not in text and len(text) < 80:
        return {"license": {"name": text}}, text
    if d["classifiers"]:
        return {"license": {"name": d["classifiers"][0].split(" :: ")[-1]}}, d["classifiers"][0].split(" :: ")[-1]
    sys.exit(f"sbom: {d['name']} {d['version']}: no license in its metadata (add one to CLASSIFIER_SPDX or pin "
             "another version)")


def _shipped(d: dict, lib: Path) -> bool:
    tops = set(d["top"])
    for f in d["files"]:
        p = Path(f)
        if "site-packages" in p.parts:
            rel = p.parts[p.parts.index("site-packages") + 1:]
            if rel and not rel[0].endswith((".dist-info", "..")) and rel[0] != "bin":
                tops.add(rel[0].split(".")[0] if rel[0].endswith(".py") else rel[0])
    return any((lib / t).exists() or (lib / f"{t}.pyc").exists() for t in tops if t and t != "__pycache__")


def _native(py: Path, toolchain: Path | None) -> list[dict]:
    """Native components: as pinned (a release toolchain folder, which holds their license files) or as the build
    Python reports them (native builds)."""
    if toolchain:
        return [{"name": name, "version": pin.version, "license": pin.license, "sha256": pin.sha256,
                 "file": pin.file, "url": pin.urls[0], "licenses": toolchain / "licenses" / name}
                for name, pin in read_pins().items() if name in CPE]
    code = ("import json, ssl, sys, zlib; print(json.dumps([sys.version.split()[0], "
            "ssl.OPENSSL_VERSION.split()[1], zlib.ZLIB_RUNTIME_VERSION]))")
    py_v, ssl_v, z_v = json.loads(subprocess.run([str(py), "-I", "-c", code], check=True, capture_output=True,
                                                 text=True).stdout)
    return [{"name": "cpython", "version": py_v, "license": "PSF-2.0"},
            {"name": "openssl", "version": ssl_v, "license": "Apache-2.0"},
            {"name": "zlib", "version": z_v, "license": "Zlib"}]


def write(dist: Path, py: Path, toolchain: Path | None = None) -> dict:
    """Write the SBOM, LICENSE, NOTICE and licenses/ into dist; return the SBOM."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lic_dir = dist / "licenses"
    shutil.rmtree(lic_dir, ignore_errors=True)
    components, notice = [], []
    for n in _native(py, toolchain):
        c = {"type": "library", "bom-ref": f"native:{n['name']}", "name": n["name"], "version": n["version"],
             "licenses": [{"license": {"id": n["license"]}}], "cpe": CPE[n["name"]].format(v=n["version"]),
             "purl": f"pkg:generic/{n['name']}@{n['version']}",
             "scope": "excluded" if n["name"] == "libffi" else "required", "description": NATIVE_ROLE[n["name"]]}
        if "sha256" in n:
            c["hashes"] = [{"alg": "SHA-256", "content": n["sha256"]}]
            c["externalReferences"] = [{"type": "distribution", "url": n["url"], "comment": n["file"]}]
        files = []
        if n.get("licenses") and c["scope"] == "required":
            if not n["licenses"].is_dir():
                sys.exit(f"sbom: {n['licenses']} missing: the toolchain predates its license files; rebuild it")
            shutil.copytree(n["licenses"], lic_dir / n["name"])
            files = sorted(p.name for p in n["licenses"].iterdir())
        if n["name"] == "cpython" and not files:
            stdlib_license = Path(subprocess.run([str(py), "-I", "-c", "import os; print(os.__file__)"], check=True,
                                                 capture_output=True, text=True).stdout.strip()).parent / "LICENSE.txt"
            if stdlib_license.is_file():
                (lic_dir / "cpython").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(stdlib_license, lic_dir / "cpython" / "LICENSE.txt")
                files = ["LICENSE.txt"]
        components.append(c)
        if c["scope"] == "required":
            notice.append((n["name"], n["name"], n["version"], n["license"], files))
    dists = json.loads(subprocess.run([str(py), "-I", "-c", _METADATA], check=True, capture_output=True,
                                      text=True).stdout)
    by_name = {d["name"].lower().replace("_", "-"): d for d in dists}
    for name in _pinned_names():
        d = by_name.get(name)
        if d is None:
            sys.exit(f"sbom: {name} is pinned in build/requirements-layer.txt but not installed in the build venv")
        entry, short = _license_of(d)
        shipped = _shipped(d, dist / "lib")
        purl = f"pkg:pypi/{name}@{d['version']}"
        components.append({"type": "library", "bom-ref": purl, "name": d["name"], "version": d["version"],
                           "purl": purl, "licenses": [entry], "scope": "required" if shipped else "excluded"})
        if shipped:
            files = []
            for f in sorted(d["files"]):
                p = Path(f)
                if ".dist-info" in str(p.parent) and LICENSE_FILE.match(p.name) and p.is_file():
                    rel = p.name if p.parent.name.endswith(".dist-info") else f"{p.parent.name}-{p.name}"
                    (lic_dir / name).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(p, lic_dir / name / rel)
                    files.append(rel)
            notice.append((name, d["name"], d["version"], short, files))
    me = {"type": "application", "bom-ref": "pscache", "name": "pscache", "version": project["version"],
          "licenses": [{"license": {"id": project["license"]}}], "description": project["description"]}
    body = {"metadata": {"component": me, "tools": {"components": [
                {"type": "application", "name": "pscache build/sbom.py"}]}},
            "components": components,
            "dependencies": [{"ref": "pscache", "dependsOn": [c["bom-ref"] for c in components
                                                              if c["scope"] == "required"]}]}
    # Same content, same serial number: the zip stays reproducible.
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "pscache-sbom:" + json.dumps(body, sort_keys=True))
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{serial}", "version": 1, **body}
    (dist / "sbom.cdx.json").write_text(json.dumps(bom, indent=2) + "\n")
    shutil.copyfile(REPO / "LICENSE", dist / "LICENSE")
    lines = [f"pscache {project['version']}: {project['license']}, see LICENSE.", "",
             "This layer also ships the components below, each under its own license; the texts are in",
             "licenses/<name>/. sbom.cdx.json (CycloneDX) lists the same with versions, hashes and CPEs.", ""]
    for folder, name, version, short, files in notice:
        where = ", ".join(f"licenses/{folder}/{f}" for f in files) or "no license file in the distribution"
        lines.append(f"{name} {version}: {short} ({where})")
    (dist / "NOTICE").write_text("\n".join(lines) + "\n")
    return bom
