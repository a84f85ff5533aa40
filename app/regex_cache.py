"""Start-up's regular expressions, compiled at build time: CPython's `re` parses and compiles each pattern in pure
Python, and the libraries compile ~290 of them at import (~9 % of start-up's CPU, urllib3's URL patterns the most).

The layer build runs the same interpreter over the same libraries once and records, for every pattern compiled,
the program `re` hands to `_sre.compile` (record()); the binary loads that table (install()) and, for a pattern and
flags it holds, passes the recorded program to `_sre.compile` instead of compiling it again. The Pattern objects
are the same; a pattern the table lacks, or a table made by another interpreter version, compiles as usual.
"""

from __future__ import annotations

import marshal
import re
import sys

import _sre

FILE = "regex-cache.marshal"  # in the layer's pscache/lib
_pending: list[str] = []  # the table to load before the first library import (use(), load())


def _version() -> tuple:
    return (_sre.MAGIC, sys.version_info[:2], sys.implementation.cache_tag)


def use(path: str) -> None:
    """Load the table at path when load() is first called: after register, not on its path."""
    _pending.append(path)


def load() -> None:
    while _pending:
        install(_pending.pop())


def install(path: str) -> int:
    """Use the table at path for the patterns it holds; the number it holds (0: absent or not for this Python)."""
    try:
        with open(path, "rb") as f:
            data = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return 0
    if not isinstance(data, dict) or data.get("version") != _version():
        return 0
    table = data["patterns"]
    original = re._compiler.compile

    def compile(p, flags=0):
        entry = table.get((p, flags)) if type(p) in (str, bytes) else None
        if entry is None:
            return original(p, flags)
        final_flags, code, groups, groupindex, indexgroup = entry
        return _sre.compile(p, final_flags, code, groups, dict(groupindex), indexgroup)

    re._compiler.compile = compile
    return len(table)


class Recorder:
    """While active, every pattern compiled is kept with the program `re` made for it."""

    def __init__(self):
        self.patterns: dict = {}
        self._original = None

    def __enter__(self) -> Recorder:
        self._original = original = re._compiler.compile
        patterns = self.patterns

        def compile(p, flags=0):
            pattern = original(p, flags)
            if type(p) in (str, bytes) and not flags & re.DEBUG:
                patterns[(p, int(flags))] = (pattern.flags, _program(p, flags), pattern.groups,
                                        dict(pattern.groupindex), _indexgroup(pattern))
            return pattern

        re._compiler.compile = compile
        return self

    def __exit__(self, *exc) -> None:
        re._compiler.compile = self._original

    def dump(self) -> bytes:
        return marshal.dumps({"version": _version(), "patterns": self.patterns})


def _program(p, flags) -> list:
    """The code list `re` gives _sre.compile for p (what re._compiler.compile computes before that call)."""
    parsed = re._parser.parse(p, flags)
    return [int(op) for op in re._compiler._code(parsed, flags)]  # named opcodes are ints to _sre


def _indexgroup(pattern) -> tuple:
    indexgroup = [None] * (pattern.groups + 1)
    for name, index in pattern.groupindex.items():
        indexgroup[index] = name
    return tuple(indexgroup)


def _start_up() -> None:
    """What pscache's start-up compiles: the server stack and the SDK imported, both clients made and primed
    (offline: priming sends nothing)."""
    import asyncio
    import os

    from app import config, lean_imports

    os.environ.update(AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="build", AWS_SECRET_ACCESS_KEY="build",
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                      AWS_EC2_METADATA_DISABLED="true")
    lean_imports.server_stack()
    import uvicorn.config  # noqa: F401  (what app.serving.HttpServer imports)
    import uvicorn.server  # noqa: F401

    import app.http_guard  # noqa: F401
    import app.server  # noqa: F401
    import app.wire  # noqa: F401
    from app.upstream import Upstream

    async def clients() -> None:
        upstream = Upstream(config.load(dict(os.environ), argv0="pscache"))
        await upstream.warm()
        await upstream._stack.aclose()  # the clients' sessions, closed before the loop ends

    asyncio.run(clients())


def main(argv: list[str]) -> int:
    """python -m app.regex_cache OUT: record start-up's patterns into OUT (the layer build runs this)."""
    with Recorder() as recorder:
        _start_up()
    with open(argv[1], "wb") as f:
        f.write(recorder.dump())
    print(f"regex_cache: {len(recorder.patterns)} patterns recorded into {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
