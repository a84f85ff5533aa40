"""The README's main job, `scripts/demo`, as a newcomer runs it: its exit status says whether the chain worked."""

import subprocess
import sys

import pytest

from locallambda.extensions import ROOT
from locallambda.extensions import test_layer as layer_under_test


def demo(*args: str) -> subprocess.CompletedProcess:
    layer = layer_under_test()
    extra = ["--layer", str(layer)] if layer else []
    return subprocess.run([sys.executable, str(ROOT / "examples/demo.py"), *extra, *args], capture_output=True,
                          text=True, timeout=180, cwd=ROOT)


@pytest.mark.slow
def test_the_demo_succeeds_and_shows_the_chain():
    run = demo("--invokes", "2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.count("function returned") == 2 and run.stdout.count("REPORT RequestId:") == 2
    assert "INIT  ok=True" in run.stdout and "pscache Exited, exit code 0" in run.stdout
    assert "correct-horse-battery" not in run.stdout + run.stderr  # the function masks what it read


@pytest.mark.slow
def test_the_demo_fails_when_an_invoke_fails():
    run = demo("--invokes", "1", "--parameter", "/demo/missing")
    assert run.returncode == 1, run.stdout[-3000:]
    assert "function failed: ParameterNotFound" in run.stdout
    assert "demo: FAILED (1 of 1 invokes failed" in run.stderr
