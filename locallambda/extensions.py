"""Extensions folders for the emulator: pscache from this checkout (`python -m app`) or from an unpacked layer.

A folder holds exactly one executable named pscache, as /opt/extensions does; Lambda registers it by that name.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: `python -m app` runs from here


def python_extensions(folder: Path, python: str = sys.executable) -> Path:
    """A folder whose pscache is a launcher that execs `python -m app` from this checkout."""
    folder.mkdir(parents=True, exist_ok=True)
    launcher = folder / "pscache"
    launcher.write_text(
        "#!/bin/sh\n"
        "# Registered name = this file's name, as for the compiled binary.\n"
        'export PSCACHE_EXTENSION_NAME="$(basename "$0")"\n'
        f'cd "{ROOT}"\n'
        f'exec "{python}" -m app "$@"\n'
    )
    launcher.chmod(0o755)
    return folder


def layer_extensions(layer: str | Path) -> Path:
    """The extensions folder of an unpacked layer zip (extensions/pscache + pscache/)."""
    folder = Path(layer) / "extensions"
    if not (folder / "pscache").is_file():
        raise FileNotFoundError(f"{layer} is not an unpacked pscache layer: no extensions/pscache")
    return folder


def pscache_extensions(work: Path, layer: str | Path | None = None) -> Path:
    """The compiled binary of `layer` if given, else `python -m app` (a launcher written under work)."""
    return layer_extensions(layer) if layer else python_extensions(Path(work) / "python-extensions")


def cold_files(extensions: Path) -> list[Path]:
    """What a cold start of this extensions folder reads from disk: the whole layer for the binary; for
    `python -m app`, the interpreter's stdlib, the venv's packages and the app package."""
    extensions = Path(extensions)
    if (extensions.parent / "pscache" / "pscache").is_file():
        return [extensions.parent]
    paths = [Path(sysconfig.get_paths()["stdlib"]), ROOT / "app", Path(sys.executable).resolve()]
    # Only the packages pscache runs on (the layer's list), not the whole development venv.
    packages = [line.strip() for line in (ROOT / "build" / "lib-packages.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for site_dir in map(Path, site.getsitepackages()):
        paths += [p for name in packages for p in (site_dir / name, site_dir / f"{name}.py") if p.exists()]
    return paths


def test_layer() -> str | None:
    """PSCACHE_TEST_LAYER: an unpacked layer that tests and scripts should run instead of `python -m app`."""
    return os.environ.get("PSCACHE_TEST_LAYER") or None
