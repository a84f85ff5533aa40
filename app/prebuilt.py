"""What start-up would compile at run time, compiled at build time: regular expressions and generated code.

The libraries compile a lot while they load. CPython's `re` parses and compiles each of ~160 patterns in pure
Python (urllib3's URL patterns the most), and attrs generates each class's methods as source and compiles them
(aiohttp defines ~50 such classes), ~20 % of start-up's instructions together. The layer build runs the same
interpreter over the same libraries once (`python -OO -m app.prebuilt FILE`: imports, both clients made and
primed, offline) and records every pattern's program for `_sre.compile` and every code object `compile()` made
from source; the binary loads that table after register (use(), load()) and takes from it what it holds, each
entry once, until start-up is over (unload()): the same Pattern objects and code objects. Anything the table lacks, or a table made by another
interpreter version or optimization level, compiles as usual.
"""

import __future__
import builtins
import contextlib
import marshal
import re
import sys

import _sre

FILE = "prebuilt.marshal"  # in the layer's pscache/lib
# The compiler flags a compile() call inherits from its caller's `from __future__` imports.
FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag
ONLY_AST = 0x400  # ast.PyCF_ONLY_AST: compile() returns an AST, not code
# attrs' generated __hash__ starts its tuple with the string hash of a name, which differs from process to process;
# the table holds that code compiled with this number instead, and the number of the day is put in on the way out.
ATTRS = "<attrs generated"
TYPE_HASH = 0x7EED_0F_A77B_5EED
_pending: list = []  # the table to load before the stack loads (use(), load())
_installed: list = []  # re's compiler and compile() as they were before install(), for unload()


def _version() -> tuple:
    return (_sre.MAGIC, tuple(sys.version_info[:2]), sys.implementation.cache_tag, sys.flags.optimize)


def use(path: str) -> None:
    """Load the table at path when load() is first called: after register, not on its path."""
    _pending.append(path)


def load() -> None:
    while _pending:
        install(_pending.pop())


def install(path: str) -> int:
    """Use the table at path for what it holds; the number of entries (0: absent, broken or not for this Python).
    Each entry serves once, and is dropped then: start-up compiles each of them once."""
    try:
        with open(path, "rb") as f:
            data = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return 0
    if not isinstance(data, dict) or data.get("version") != _version():
        return 0
    patterns, code = data["patterns"], data["code"]
    original_pattern, original_compile = re._compiler.compile, builtins.compile

    def compile_pattern(p, flags=0):
        entry = patterns.pop((p, flags), None) if type(p) in (str, bytes) else None
        if entry is None:
            return original_pattern(p, flags)
        final_flags, program, groups, groupindex, indexgroup = entry
        return _sre.compile(p, final_flags, program, groups, groupindex, indexgroup)

    def compile(source, filename, mode, flags=0, dont_inherit=False, optimize=-1, **kwargs):
        if dont_inherit or optimize != -1 or kwargs or type(source) is not str:
            return original_compile(source, filename, mode, flags, dont_inherit, optimize, **kwargs)
        flags |= _caller_flags()  # what compile() itself would have inherited from the caller
        key, type_hash = _canonical(source, filename)
        made = code.pop((key, filename, mode, flags), None) if not flags & ONLY_AST else None
        if made is None:
            return original_compile(source, filename, mode, flags, True)
        return made if type_hash is None else _swapped(made, TYPE_HASH, type_hash)

    count = len(patterns) + len(code)
    _installed.append((original_pattern, original_compile))
    re._compiler.compile, builtins.compile = compile_pattern, compile
    return count


def unload() -> None:
    """Start-up is over: re and compile() as they were, and the entries start-up did not use freed."""
    while _installed:
        re._compiler.compile, builtins.compile = _installed.pop()


def _canonical(source: str, filename) -> tuple[str, int | None]:
    """The table's key for a source, and the type hash attrs wrote into it (None: not an attrs __hash__)."""
    if type(filename) is not str or not filename.startswith(ATTRS):
        return source, None
    start = source.find("hash((\n")
    if start < 0:
        return source, None
    start += len("hash((\n")
    end = source.find(",\n", start)
    number = source[start:end].strip()
    if end < 0 or not number.lstrip("-").isdigit():
        return source, None
    return source[:start] + source[start:end].replace(number, str(TYPE_HASH)) + source[end:], int(number)


def _swapped(value, old: int, new: int):
    """value (a code object, or one of its constants) with the int constant old replaced by new, at any depth."""
    if type(value) is int:
        return new if value == old else value
    if type(value) is tuple:
        return tuple(_swapped(item, old, new) for item in value)
    if isinstance(value, type(_swapped.__code__)):
        return value.replace(co_consts=_swapped(value.co_consts, old, new))
    return value


def _caller_flags() -> int:
    """The `from __future__` flags of the code that called compile() (0 when C code called it: no frame)."""
    try:
        return sys._getframe(2).f_code.co_flags & FUTURE_FLAGS
    except ValueError:
        return 0


class Recorder:
    """While active, every pattern compiled is kept with its program, and every code object compiled from source."""

    def __init__(self):
        self.patterns: dict = {}
        self.code: dict = {}

    @contextlib.contextmanager
    def recording(self):
        original_pattern, original_compile = re._compiler.compile, builtins.compile
        patterns, code = self.patterns, self.code

        def compile_pattern(p, flags=0):
            pattern = original_pattern(p, flags)
            if type(p) in (str, bytes) and not flags & re.DEBUG:
                patterns[(p, int(flags))] = (pattern.flags, _program(p, flags), pattern.groups,
                                             dict(pattern.groupindex), _indexgroup(pattern))
            return pattern

        def compile(source, filename, mode, flags=0, dont_inherit=False, optimize=-1, **kwargs):
            if dont_inherit or optimize != -1 or kwargs or type(source) is not str:
                return original_compile(source, filename, mode, flags, dont_inherit, optimize, **kwargs)
            flags |= _caller_flags()
            made = original_compile(source, filename, mode, flags, True)
            if not flags & ONLY_AST and type(filename) is str:
                key, type_hash = _canonical(source, filename)
                code[(key, filename, mode, flags)] = made if type_hash is None else _swapped(made, type_hash, TYPE_HASH)
            return made

        re._compiler.compile, builtins.compile = compile_pattern, compile
        try:
            yield self
        finally:
            re._compiler.compile, builtins.compile = original_pattern, original_compile

    def dump(self) -> bytes:
        return marshal.dumps({"version": _version(), "patterns": self.patterns, "code": self.code})


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


def main(argv: list) -> int:
    """python -OO -m app.prebuilt OUT: record start-up's patterns and compiled code into OUT (the layer build runs
    this with the interpreter and the optimization level of the binary)."""
    recorder = Recorder()
    with recorder.recording():
        _start_up()
    with open(argv[1], "wb") as f:
        f.write(recorder.dump())
    print(f"prebuilt: {len(recorder.patterns)} patterns and {len(recorder.code)} code objects recorded into {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
