"""The AWS SDK for JavaScript v3 clients (and Powertools Parameters) the Node functions use, installed with npm at run time into a
cache folder outside the repository (PSCACHE_BENCH_NODE_DIR, default ~/.cache/pscache-bench/node-sdk)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

PACKAGES = {
    "@aws-sdk/client-ssm": "3.1169.0",
    "@aws-sdk/client-secrets-manager": "3.1164.0",
    # Powertools for AWS Lambda (TypeScript): the Parameters utility over the same two clients
    # (examples/node/sdk_function.mjs, tests/test_sdk_clients.py).
    "@aws-lambda-powertools/parameters": "2.35.0",
}


def node_sdk_dir() -> Path:
    default = Path.home() / ".cache" / "pscache-bench" / "node-sdk"
    return Path(os.environ.get("PSCACHE_BENCH_NODE_DIR") or default)


def installed(folder: Path) -> bool:
    for name, version in PACKAGES.items():
        manifest = folder / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return True


def ensure_node_sdk() -> Path:
    """The folder whose node_modules holds PACKAGES; npm installs them on first use."""
    folder = node_sdk_dir()
    if installed(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is required to install the AWS SDK for the Node bench function (apt install npm)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text(json.dumps({"private": True, "dependencies": PACKAGES}, indent=1))
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL, timeout=600)
    if not installed(folder):
        raise RuntimeError(f"npm install in {folder} did not install {PACKAGES}")
    return folder
