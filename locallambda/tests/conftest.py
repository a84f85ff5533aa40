"""Fixtures of the local Lambda's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from locallambda.emulator import LambdaEmulator
from locallambda.tests.fakes import pid_alive


@pytest.fixture
def emulator(tmp_path):
    """Factory of emulators; every one is closed at the end and must leave no process behind."""
    made: list[LambdaEmulator] = []

    def make(extensions_dir: Path, **kwargs) -> LambdaEmulator:
        extensions_dir.mkdir(parents=True, exist_ok=True)
        emu = LambdaEmulator(extensions_dir, log_dir=tmp_path / f"logs{len(made)}", **kwargs)
        made.append(emu)
        return emu

    yield make
    pids = []
    for emu in made:
        pids += [a.pid for a in emu.agents()] + [emu.runtime_pid()]
        emu.close()
    assert not [p for p in pids if pid_alive(p)], "leaked processes"
