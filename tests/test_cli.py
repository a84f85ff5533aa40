"""`pscache --version`, `pscache --help` and anything else on the command line, as a user runs them: beside another
copy that holds the port, under a Runtime API that must not be called. With PSCACHE_TEST_LAYER, the binary."""

import re
import socket
import subprocess
import sys

import pytest

from app import __version__, config
import harness
from harness import ROOT, extensions_dir


@pytest.fixture
def run(tmp_path):
    """Runs pscache with arguments while its port is taken and a Runtime API listens; returns the completed
    process after checking that nothing connected to the Runtime API."""
    command = str(extensions_dir(tmp_path) / "pscache")
    with socket.socket() as taken, socket.socket() as runtime_api:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        runtime_api.bind(("127.0.0.1", 0))
        runtime_api.listen()
        runtime_api.setblocking(False)
        env = {"PATH": "/usr/bin:/bin", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(taken.getsockname()[1]),
               "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % runtime_api.getsockname()[1]}

        def go(*args):
            done = subprocess.run([command, *args], env=env, capture_output=True, text=True, timeout=30)
            with pytest.raises(BlockingIOError):
                runtime_api.accept()  # neither registered nor reported an error: it only answered
            return done

        yield go


def test_version_names_the_release_commit_and_python(run):
    done = run("--version")
    assert done.returncode == 0 and done.stderr == "", done
    lines = done.stdout.splitlines()
    assert lines[0] == f"pscache {__version__}"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    if harness.test_layer():
        # Written by the build (pscache/version.json): the commit scripts/build-layer saw, the embedded Python.
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", fields["commit"]), fields
        assert re.fullmatch(r"3\.1[23]\.\d+", fields["python"]) and fields["architecture"] in ("x86_64", "arm64")
    else:
        assert fields == {"commit": "none (run from source: python -m app)",
                          "python": ".".join(map(str, sys.version_info[:3]))}
    assert run("-V").stdout == done.stdout


def test_help_lists_every_setting_with_its_default_and_range(run):
    done = run("--help")
    assert done.returncode == 0 and done.stderr == "", done
    assert done.stdout.startswith("usage: pscache [--version | --help]\n")
    settings = config.describe()
    assert len(settings) >= 25  # the AWS extension's nine and pscache's own
    for name, default, allowed in settings:
        assert f"  {name}\n      default {default}; allowed {allowed}\n" in done.stdout, name
    assert run("-h").stdout == done.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["serve", "--port=1"], ["--version", "--verbose"]])
def test_unknown_arguments_are_named_and_exit_2(run, args):
    done = run(*args)
    assert done.returncode == 2 and done.stdout == ""
    unknown = [a for a in args if a != "--version"]
    assert done.stderr.splitlines()[0] == f"pscache: unknown argument{'s' * (len(unknown) > 1)}: {' '.join(unknown)}"
    assert "usage: pscache [--version | --help]" in done.stderr


def test_python_m_app_answers_without_importing_the_server_or_the_aws_sdk():
    for args in (["--version"], ["--help"], ["--bogus"]):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "app", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
        heavy = {m for m in imported if m.split(".")[0] in ("botocore", "aioboto3", "starlette", "uvicorn", "asyncio")}
        assert imported and not heavy, (args, heavy)
