"""scripts/system-packages: what a newcomer's machine lacks is named in one message, with the command to fix it."""

import os
import shutil
import subprocess

import pytest

from locallambda.extensions import ROOT

pytestmark = pytest.mark.recipe  # left out of the binary tiers (tests/conftest.py)

SCRIPT = ROOT / "scripts/system-packages"


def run(task: str, path: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), task], capture_output=True, text=True, timeout=60,
                          env={"PATH": path, "PSCACHE_NO_INSTALL": "1", **env})


# Packages the script finds by an absolute path.
BY_PATH = {"mariadb-server-core": "/usr/sbin/mariadbd", "ca-certificates": "/etc/ssl/certs/ca-certificates.crt",
           "golang-github-aws-aws-sdk-go-v2-dev": "/usr/share/gocode/src/github.com/aws/aws-sdk-go-v2"}


@pytest.fixture
def bare_path(tmp_path):
    """A PATH holding only what the script itself runs on: every tool it checks for is missing."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("bash", "env", "id", "sed", "basename"):
        (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


@pytest.mark.parametrize("task,packages", [
    ("test", ["nodejs", "npm", "default-jdk-headless", "golang-go", "golang-github-aws-aws-sdk-go-v2-dev",
              "mariadb-server-core", "openssl", "util-linux", "git", "curl"]),
    ("build", ["gcc", "binutils", "openssl", "unzip"]),
    # Dockerfile.build's base: the build alone, without the test tools of "release" (unzip, debootstrap).
    ("release-build", ["python3", "python3-pip", "ca-certificates", "make", "pkg-config", "perl", "gcc", "binutils",
                       "openssl"]),
])
def test_missing_packages_are_listed_once_with_the_command_that_installs_them(bare_path, task, packages):
    # Found by an absolute path, which a bare PATH does not hide: not missing where this host has it.
    packages = [p for p in packages if not os.path.exists(BY_PATH.get(p, "/nonexistent"))]
    done = run(task, bare_path)
    assert done.returncode == 1 and done.stdout == ""
    message = done.stderr.splitlines()
    assert len(message) == 2, done.stderr
    assert message[0] == f"scripts/system-packages {task}: missing {' '.join(packages)}. Install them with:"
    assert message[1].strip().endswith(f"apt-get install -y --no-install-recommends {' '.join(packages)}")
    # ccache is optional: never a reason to stop, so never listed when it cannot be installed.
    assert "ccache" not in done.stderr


def test_nothing_missing_is_silent_success():
    done = run("test", os.environ["PATH"])
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_an_unknown_task_is_a_usage_error(bare_path):
    done = run("tests", bare_path)
    assert done.returncode == 2 and "scripts/system-packages test" in done.stderr
