"""The command line: `pscache --version` and `pscache --help` answer on stdout and exit 0.

Lambda starts an extension with no arguments, so any other argument is a mistake: it is named on stderr and the
exit status is 2 (as argparse does), before a setting is read, a socket bound or the AWS SDK imported.
"""

from __future__ import annotations

import os
import sys

from app import __version__, config

USAGE = "usage: pscache [--version | --help]"
HELP = ("--help", "-h")
VERSION = ("--version", "-V")
# Written into the layer beside the binary by build/build_layer.py: {"version", "commit", "python", "arch"}.
BUILD_INFO = "version.json"


def main(args: list[str]) -> int:
    unknown = [a for a in args if a not in HELP + VERSION]
    if unknown:
        print(f"pscache: unknown argument{'s' if len(unknown) > 1 else ''}: {' '.join(unknown)}\n{USAGE}\n"
              "Lambda starts pscache with no arguments; its settings are environment variables (pscache --help).",
              file=sys.stderr)
        return 2
    try:
        print(help_text() if any(a in HELP for a in args) else version_text(), flush=True)
    except BrokenPipeError:  # `pscache --help | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
    return 0


def build_info() -> dict | None:
    """The layer's build info, None when this is not the compiled binary (`python -m app`)."""
    if "__compiled__" not in globals():
        return None
    import json

    path = os.path.join(os.path.dirname(sys.executable), BUILD_INFO)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        return {"commit": f"unknown ({path}: {exc})"}


def version_text() -> str:
    info = build_info()
    if info is None:
        python = ".".join(map(str, sys.version_info[:3]))
        return f"pscache {__version__}\ncommit: none (run from source: python -m app)\npython: {python}"
    return "\n".join([f"pscache {info.get('version', __version__)}", f"commit: {info.get('commit', 'unknown')}",
                      f"python: {info.get('python', 'unknown')}", f"architecture: {info.get('arch', 'unknown')}"])


def help_text() -> str:
    lines = [
        USAGE,
        "",
        f"pscache {__version__}: the AWS Parameters and Secrets Lambda Extension's API on localhost, an in-memory",
        "cache of SSM parameters and Secrets Manager secrets. Lambda starts it from /opt/extensions; without",
        "AWS_LAMBDA_RUNTIME_API it serves as a local server until SIGTERM or SIGINT.",
        "",
        "  --version, -V   the version, and the commit and Python the layer was built from",
        "  --help, -h      this text",
        "",
        "Settings (environment variables; an empty value counts as unset, an invalid one stops pscache):",
    ]
    for name, default, allowed in config.describe():
        lines += [f"  {name}", f"      default {default}; allowed {allowed}"]
    lines += ["", "What each setting does: docs/configuration.md in pscache's repository."]
    return "\n".join(lines)
