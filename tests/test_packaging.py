"""Installing the project leaves the checkout as it was."""

import shutil
import subprocess
import sys

import pytest
from harness import ROOT


def _run(*cmd, cwd=None):
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_pip_install_and_editable_install_leave_git_status_clean(tmp_path):
    """Regression: `pip install .` left setuptools' build/lib/ (a copy of app/ and the rest) in our build/ folder."""
    checkout = tmp_path / "checkout"
    files = _run("git", "ls-files", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    _run("git", "init", "-q", cwd=checkout)
    _run("git", "add", "-A", cwd=checkout)
    _run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clean", cwd=checkout)

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check"]
    _run(*pip, ".", cwd=checkout)
    assert _run("git", "status", "--porcelain", cwd=checkout) == ""
    assert not (checkout / "build" / "lib").exists()
    _run(*pip, "-e", ".", cwd=checkout)
    assert _run("git", "status", "--porcelain", cwd=checkout) == ""
    _run(venv / "bin" / "python", "-c", "import app.config, locallambda.emulator, bench", cwd=tmp_path)
