"""Fake extensions and runtimes for the emulator's own tests (fake_ext.py, fake_runtime.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

FAKES = Path(__file__).resolve().parent
PY = sys.executable
RUNTIME = [PY, str(FAKES / "fake_runtime.py")]  # the fake runtime as a runtime command


def make_ext(folder: Path, name: str, *flags: str, mode: int = 0o755) -> Path:
    """An executable fake extension named `name` in `folder` (registered by that name, like a real one)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!{PY}\nfrom locallambda.tests.fakes import fake_ext\nfake_ext.main({list(flags)!r})\n")
    path.chmod(mode)
    return path


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return proc_state(pid) != "Z"
