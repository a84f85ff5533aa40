"""Two release builds of one commit give the same zip (issue 20; docs/building.md): the parts that need no build."""
from __future__ import annotations

import marshal
import re
import sys
import sysconfig
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build"))  # as tests/test_release_tools.py
import build_layer  # noqa: E402
import nuitka_bytecode_plugin  # noqa: E402

pytestmark = pytest.mark.recipe  # left out of the binary tiers (tests/conftest.py)

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "class Outer:\n    class Inner:\n        def f(self):\n            return 'a.b', {'c.d', 'e'}\n"


def test_embedded_bytecode_does_not_depend_on_what_the_compiling_process_interned():
    fresh = compile(SOURCE, "m.py", "exec", dont_inherit=True)
    # What importing a module with this class does to the process: its qualified names become interned strings
    # (made at run time here, so that this file's own constants do not intern them first).
    for name in ("Outer", "Inner"):
        sys.intern(".".join(["Outer", name])[:len(f"Outer.{name}")])
    later = compile(SOURCE, "m.py", "exec", dont_inherit=True)
    canonical = nuitka_bytecode_plugin.canonical
    if sys.version_info >= (3, 13):
        # The release's Python: the raw bytes follow the process (what Docker and native builds disagreed on).
        assert marshal.dumps(fresh) != marshal.dumps(later)
    if sys.version_info >= (3, 12):
        # From 3.12 marshal always writes an interned string as a reference; 3.11 decides by reference count, for
        # interned strings too (the plugin runs only under the release's 3.13).
        assert marshal.dumps(canonical(fresh)) == marshal.dumps(canonical(later))
    namespace = {}
    exec(canonical(later), namespace)  # still the same program
    assert namespace["Outer"].Inner().f() == ("a.b", {"c.d", "e"})
    assert namespace["Outer"].Inner.__qualname__ == "Outer.Inner"


def test_the_docker_build_context_holds_every_build_file_the_layer_build_reads():
    """Dockerfile.build copies an explicit list and its .dockerignore admits one: a file missing from either is a
    Docker build that fails, or builds without it."""
    dockerfile = (ROOT / "Dockerfile.build").read_text()
    stage = dockerfile[dockerfile.index("AS sources"):dockerfile.index("FROM", dockerfile.index("AS sources"))]
    copied = set(re.findall(r"build/[\w.-]+", stage))
    admitted = {line[1:] for line in (ROOT / "Dockerfile.build.dockerignore").read_text().splitlines()
                if line.startswith("!build/")}
    options = (ROOT / "build" / "nuitka-options.txt").read_text()
    read = {f"build/{name}" for name in re.findall(r"\$\{BUILD_DIR\}/([\w.-]+)", options)}
    layer_build = (ROOT / "build" / "build_layer.py").read_text()
    constants = "\n".join(re.findall(r"^[A-Z_]+ = .*$", layer_build, re.M))  # the files it reads, by name
    read |= {f"build/{name}" for name in re.findall(r'HERE / "([\w.-]+)"', constants)}
    read |= {f"build/{name}.py" for name in re.findall(r"^import (\w+)  # noqa", layer_build, re.M)}
    assert "build/nuitka_bytecode_plugin.py" in read and "build/stdlib-binary.txt" in read
    assert read <= copied, sorted(read - copied)
    assert copied <= admitted, sorted(copied - admitted)


def test_the_prebuilt_table_does_not_follow_the_callers_environment(monkeypatch):
    """lib/prebuilt.marshal, recorded by the layer build's Python: the same bytes whatever the caller's hash seed
    and AWS variables (this suite's Python and its site-packages stand in for the toolchain's and pscache/lib)."""
    lib = Path(sysconfig.get_paths()["purelib"])
    table = lib / "prebuilt.marshal"
    tables = []
    try:
        for caller in ({"PYTHONHASHSEED": "1"},
                       {"PYTHONHASHSEED": "2", "AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
                        "AWS_REGION": "eu-west-1", "AWS_PROFILE": "someone"}):
            for name, value in caller.items():
                monkeypatch.setenv(name, value)
            build_layer.record_prebuilt(Path(sys.executable), ROOT, lib)
            tables.append(table.read_bytes())
    finally:
        table.unlink(missing_ok=True)
    assert len(tables[0]) > 10_000 and tables[0] == tables[1]
