"""The example functions as custom runtimes: build what needs building, return the command and _HANDLER.

Used by tests/test_examples.py, tests/test_walkthrough.py and scripts/demo. A missing toolchain is an error naming the
Debian package, never a skip: .ci/run installs them all.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

from locallambda.extensions import ROOT

EXAMPLES = ROOT / "examples"
LANGUAGES = ("python", "node", "java", "go")
TOOLS = {"node": ("node", "nodejs"), "java": ("javac", "default-jdk-headless"), "go": ("go", "golang-go")}


def require(language: str) -> None:
    if language in TOOLS and shutil.which(TOOLS[language][0]) is None:
        command, package = TOOLS[language]
        raise RuntimeError(f"the {language} example needs `{command}`: apt-get install {package}")


# Debian's Go packages (GOPATH layout), and the one of the AWS SDK for Go v2 (1.17.1 in Debian 12).
DEBIAN_GOCODE = Path("/usr/share/gocode")
GO_SDK = ("github.com/aws/aws-sdk-go-v2", "golang-github-aws-aws-sdk-go-v2-dev")


def go_build(module: Path, package: str, target: Path, scratch: Path, debian_packages: bool = False) -> Path:
    """`go build` of a standard-library-only program: no module download may happen, and the installed
    toolchain is the one used. `scratch` holds Go's caches where no home folder does. debian_packages: in GOPATH
    mode (GO111MODULE=off), against the Go packages Debian installs in /usr/share/gocode (the AWS SDK for Go v2)."""
    if shutil.which("go") is None:
        raise RuntimeError(f"building {module.name}/{package} needs `go`: apt-get install golang-go")
    env = dict(os.environ, GOTOOLCHAIN="local", GOPROXY="off", CGO_ENABLED="0", GOFLAGS="-trimpath")
    if not (env.get("HOME") or env.get("XDG_CACHE_HOME")):  # go needs a build cache and a GOPATH somewhere
        env.update(GOCACHE=str(scratch / "go-cache"), GOPATH=str(scratch / "go-path"))
    if debian_packages:
        path, debian = GO_SDK
        if not (DEBIAN_GOCODE / "src" / path).is_dir():
            raise RuntimeError(f"building {module.name}/{package} needs {path}: apt-get install {debian}")
        env.update(GO111MODULE="off", GOPATH=f"{scratch / 'go-path'}:{DEBIAN_GOCODE}")
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["go", "build", "-o", str(target), package], cwd=module, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"go build of {module}/{package} failed:\n{done.stderr[-3000:]}")
    return target


def runtime_command(language: str, build_dir: Path) -> tuple[list[str], str]:
    """(command that runs the example as a custom runtime, the _HANDLER a deployment would set)."""
    require(language)
    out = build_dir / language
    if language == "python":
        # -S: no site-packages, so the example proves it needs nothing beyond the standard library.
        return [sys.executable, "-S", str(EXAMPLES / "python/bootstrap")], "function.handler"
    if language == "node":
        return [str(EXAMPLES / "node/bootstrap")], "function.handler"
    if language == "java":
        subprocess.run([str(EXAMPLES / "java/build.sh"), str(out)], check=True, capture_output=True)
        return [str(out / "bootstrap")], "example.Handler::handleRequest"
    if language == "go":
        return [str(go_build(EXAMPLES / "go", ".", out / "bootstrap", build_dir))], "bootstrap"
    raise ValueError(f"unknown language {language!r}; one of {LANGUAGES}")


def walkthrough_package(dest: Path) -> tuple[list[str], str]:
    """The blog walkthrough as a deployment package (function, pscache client, bootstrap, PyMySQL vendored from
    its installed distribution), and the command that runs it without site-packages: only the package's copy of
    PyMySQL can be imported, as on Lambda."""
    dest.mkdir(parents=True, exist_ok=True)
    for source in (EXAMPLES / "walkthrough/lambda_function.py", EXAMPLES / "python/pscache_client.py",
                   EXAMPLES / "python/bootstrap"):
        shutil.copy2(source, dest / source.name)
    try:
        dist = importlib.metadata.distribution("PyMySQL")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("PyMySQL is not installed: pip install PyMySQL (it is in the test extras)") from None
    for file in dist.files or ():
        if file.parts[0] == "pymysql" and file.suffix == ".py":
            target = dest / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dist.locate_file(file), target)
    return [sys.executable, "-S", str(dest / "bootstrap")], "lambda_function.lambda_handler"
