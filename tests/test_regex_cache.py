"""Start-up's regular expressions compiled at build time (app/regex_cache.py): the same patterns as `re` makes."""

from __future__ import annotations

import marshal
import re

import pytest

from app import regex_cache

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


@pytest.fixture
def fresh_re(monkeypatch):
    """re's own compiler back after the test, and no pattern served from re's cache."""
    monkeypatch.setattr(re._compiler, "compile", re._compiler.compile)
    re.purge()
    yield
    re.purge()


def recorded(tmp_path) -> str:
    with regex_cache.Recorder() as recorder:
        for pattern, flags in PATTERNS:
            re.compile(pattern, flags)
    path = tmp_path / regex_cache.FILE
    path.write_bytes(recorder.dump())
    return str(path)


def test_a_pattern_from_the_table_is_the_pattern_re_compiles(tmp_path, fresh_re):
    path = recorded(tmp_path)
    expected = [re._compiler.compile(p, f) for p, f in PATTERNS]
    re.purge()
    assert regex_cache.install(path) == len(PATTERNS)
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


@pytest.mark.parametrize("content", [b"", b"not marshal", marshal.dumps({"version": (0, (2, 7), "x"), "patterns": {}}),
                                     marshal.dumps([1, 2])])
def test_a_missing_broken_or_foreign_table_changes_nothing(tmp_path, fresh_re, content):
    path = tmp_path / regex_cache.FILE
    path.write_bytes(content)
    compiler = re._compiler.compile
    assert regex_cache.install(str(path)) == 0 and regex_cache.install(str(tmp_path / "absent")) == 0
    assert re._compiler.compile is compiler
