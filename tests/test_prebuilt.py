"""What start-up compiles, compiled at build time (app/prebuilt.py): the same patterns and code objects."""

from __future__ import annotations

import builtins
import marshal
import re

import pytest

from app import prebuilt

PATTERNS = [
    (r"(?P<scheme>[a-z]+)://(?P<host>[^/:]+)(?::(\d+))?", 0),
    (r"^\s*x-amz-[\w-]+\s*$", re.IGNORECASE | re.MULTILINE),
    (rb"[\x00-\x1f]+", 0),
    (r"""
        (?P<name>[A-Za-z_]\w*)   # an identifier
        \s*=\s*(?P<value>.*)
     """, re.VERBOSE),
]
SAMPLES = ["https://ssm.us-east-1.amazonaws.com:443/x", "  X-Amz-Date \n", "name = value", "", "ftp://h"]
# Generated source as attrs makes it: this test module has `from __future__ import annotations`, which compile()
# passes on to what it compiles (the annotation below stays a string).
SOURCE = "def __init__(self, a: List[int], b=2):\n    self.a = a\n    self.b = b\n"
FILENAME = "<attrs generated init tests.Example>"


@pytest.fixture
def fresh(monkeypatch):
    """re's compiler and builtins.compile back after the test, and no pattern served from re's cache."""
    monkeypatch.setattr(re._compiler, "compile", re._compiler.compile)
    monkeypatch.setattr(builtins, "compile", builtins.compile)
    re.purge()
    yield
    prebuilt.unload()
    re.purge()


def recorded(tmp_path) -> str:
    recorder = prebuilt.Recorder()
    with recorder.recording():
        for pattern, flags in PATTERNS:
            re.compile(pattern, flags)
        compile(SOURCE, FILENAME, "exec")
    path = tmp_path / prebuilt.FILE
    path.write_bytes(recorder.dump())
    return str(path)


def test_a_pattern_from_the_table_is_the_pattern_re_compiles(tmp_path, fresh):
    path = recorded(tmp_path)
    expected = [re._compiler.compile(p, f) for p, f in PATTERNS]
    re.purge()
    assert prebuilt.install(path) == len(PATTERNS) + 1
    for (pattern, flags), made in zip(PATTERNS, expected):
        loaded = re.compile(pattern, flags)
        # Pattern equality compares the pattern, the flags and the compiled program.
        assert loaded == made and loaded.groupindex == made.groupindex and loaded.groups == made.groups
        for sample in SAMPLES:
            text = sample.encode() if isinstance(pattern, bytes) else sample
            found, wanted = loaded.search(text), made.search(text)
            assert (found and found.groupdict(), found and found.groups()) == \
                   (wanted and wanted.groupdict(), wanted and wanted.groups())
    other = re.compile(r"not (in) the table")  # compiled the usual way
    assert other.search("is not in the table").group(1) == "in"


def test_code_from_the_table_is_the_code_compile_makes_with_the_callers_future_flags(tmp_path, fresh):
    path = recorded(tmp_path)
    made = compile(SOURCE, FILENAME, "exec")
    original, original_pattern = builtins.compile, re._compiler.compile
    prebuilt.install(path)
    loaded = compile(SOURCE, FILENAME, "exec")
    assert loaded == made and loaded is not made  # code objects compare by content: the recorded one
    namespace = {}
    exec(loaded, namespace)
    assert namespace["__init__"].__annotations__["a"] == "List[int]"  # the caller's `annotations` future applied
    again = compile(SOURCE, FILENAME, "exec")  # each entry serves once; then compile() as usual
    assert again == made
    prebuilt.unload()
    assert builtins.compile is original and re._compiler.compile is original_pattern


def attrs_hash_source(type_hash: int) -> str:
    """What attrs generates for a frozen class's __hash__: the tuple starts with a per-process string hash."""
    return f"def __hash__(self):\n    return hash((\n        {type_hash},\n        self.a,\n    ))\n"


def test_attrs_hash_code_is_served_with_the_type_hash_of_this_process(tmp_path, fresh):
    filename = "<attrs generated hash tests.Frozen>"
    recorder = prebuilt.Recorder()
    with recorder.recording():
        compile(attrs_hash_source(-8812345678901234567), filename, "exec")  # the build's process
    path = tmp_path / prebuilt.FILE
    path.write_bytes(recorder.dump())
    runtime = attrs_hash_source(4242424242)
    made = compile(runtime, filename, "exec")
    prebuilt.install(str(path))
    loaded = compile(runtime, filename, "exec")
    # The same bytecode and constants; only the column table differs, where the two numbers' lengths differ.
    (function,), (expected,) = ([c for c in x.co_consts if hasattr(c, "co_code")] for x in (loaded, made))
    assert (function.co_code, function.co_consts, function.co_names) == \
           (expected.co_code, expected.co_consts, expected.co_names)

    class Frozen:
        a = 7

    namespace = {}
    exec(loaded, namespace)
    assert namespace["__hash__"](Frozen()) == hash((4242424242, 7))


@pytest.mark.parametrize("content", [b"", b"not marshal", marshal.dumps({"version": (0, (2, 7), "x", 0)}),
                                     marshal.dumps([1, 2])])
def test_a_missing_broken_or_foreign_table_changes_nothing(tmp_path, fresh, content):
    path = tmp_path / prebuilt.FILE
    path.write_bytes(content)
    compiler, builtin = re._compiler.compile, builtins.compile
    assert prebuilt.install(str(path)) == 0 and prebuilt.install(str(tmp_path / "absent")) == 0
    assert re._compiler.compile is compiler and builtins.compile is builtin
