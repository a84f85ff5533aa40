"""Unit tests for the release toolchain's pieces: build/toolchain.py (pins, fetch, wrappers), build/sbom.py and
build/audit.py. No compiler, no network: zig is a stand-in script that prints its arguments."""
from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build"))
import audit  # noqa: E402
import sbom  # noqa: E402
import toolchain  # noqa: E402

pytestmark = pytest.mark.recipe  # left out of the binary tiers (tests/conftest.py)


def pin(path: Path, data: bytes, urls=("https://invalid.example/x.tar.gz",)) -> toolchain.Pin:
    return toolchain.Pin("zlib", "1.3.1", path.name, hashlib.sha256(data).hexdigest(), "Zlib", list(urls))


def test_the_pins_file_pins_every_toolchain_input():
    pins = toolchain.read_pins()
    assert set(pins) == {"cpython", "openssl", "zlib", "libffi", "ziglang"}
    assert pins["cpython"].version.startswith("3.13.") and pins["openssl"].version.startswith("3.0.")
    assert all(len(p.sha256) == 64 and p.urls for p in pins.values())


def test_a_malformed_pin_line_names_the_file_and_line(tmp_path):
    bad = tmp_path / "pins.txt"
    bad.write_text("# comment\nzlib 1.3.1 zlib.tar.gz nothex\n")
    with pytest.raises(SystemExit, match=r"pins.txt:2: expected"):
        toolchain.read_pins(bad)


def test_a_source_with_another_hash_stops_with_file_expected_and_actual(tmp_path):
    good = pin(tmp_path / "zlib.tar.gz", b"the pinned bytes")
    (tmp_path / "zlib.tar.gz").write_bytes(b"other bytes")
    actual = hashlib.sha256(b"other bytes").hexdigest()
    with pytest.raises(SystemExit) as exc:
        toolchain.fetch(good, [tmp_path], tmp_path / "downloads")
    msg = str(exc.value)
    assert str(tmp_path / "zlib.tar.gz") in msg and good.sha256 in msg and actual in msg
    assert "toolchain-pins.txt" in msg


def test_a_matching_source_is_taken_from_the_first_folder_that_has_it(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "zlib.tar.gz").write_bytes(b"pinned")
    assert toolchain.fetch(pin(tmp_path / "zlib.tar.gz", b"pinned"), [tmp_path / "b", tmp_path / "a"],
                           tmp_path / "dl") == tmp_path / "a" / "zlib.tar.gz"


def test_a_missing_source_says_where_it_looked(tmp_path):
    with pytest.raises(SystemExit, match=r"(?s)zlib.tar.gz not found in .*invalid.example"):
        toolchain.fetch(pin(tmp_path / "zlib.tar.gz", b"x"), [tmp_path], tmp_path / "dl")


def test_two_fetches_of_one_file_at_once_both_get_the_pinned_bytes(tmp_path):
    """CI builds a toolchain beside a test that fetches the same pin: one download must not write into the other's."""
    data = bytes(range(256)) * 4096
    first_half_sent, release_first = threading.Event(), threading.Event()

    class Source(http.server.BaseHTTPRequestHandler):
        calls = 0

        def do_GET(self):
            Source.calls += 1
            held = Source.calls == 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if held:  # the first download stops half-way until the second has finished
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                first_half_sent.set()
                release_first.wait(10)
                self.wfile.write(data[len(data) // 2:])
            else:
                self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/zlib.tar.gz"
    the_pin = pin(tmp_path / "zlib.tar.gz", data, urls=(url,))
    downloads = tmp_path / "dl"
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(toolchain.fetch, the_pin, [], downloads)
            assert first_half_sent.wait(10)
            assert toolchain.fetch(the_pin, [], downloads).read_bytes() == data
            release_first.set()
            assert first.result(timeout=20).read_bytes() == data
    finally:
        server.shutdown()
    assert sorted(p.name for p in downloads.iterdir()) == ["zlib.tar.gz"]  # no part file left behind


def test_the_cache_key_follows_the_pins(tmp_path, monkeypatch):
    pins = tmp_path / "pins.txt"
    pins.write_text("a\n")
    monkeypatch.setattr(toolchain, "PINS_FILE", pins)
    first = toolchain.toolchain_key()
    assert toolchain.toolchain_key() == first
    pins.write_text("b\n")
    assert toolchain.toolchain_key() != first


@pytest.fixture
def wrappers(tmp_path):
    fake = tmp_path / "zig"
    fake.write_text('#!/bin/sh\necho "zig $*"\necho "cache=$ZIG_GLOBAL_CACHE_DIR"\n')
    fake.chmod(0o755)
    return toolchain.wrappers(tmp_path / "bin", fake, tmp_path / "zc", "x86_64")


def run(path: Path, *args: str, env=None) -> str:
    return subprocess.run([str(path), *args], check=True, capture_output=True, text=True, env=env).stdout


def test_the_wrappers_always_pass_the_glibc_2_26_target(wrappers, tmp_path):
    assert "zig cc -target x86_64-linux-gnu.2.26 -c a.c" in run(wrappers["zigcc-x86_64"], "-c", "a.c")
    assert "zig c++ -target x86_64-linux-gnu.2.26 a.cc" in run(wrappers["zigcxx-x86_64"], "a.cc")
    # Nuitka's CC: driven like the zig CLI.
    assert "zig cc -target x86_64-linux-gnu.2.26 -o x.o" in run(wrappers["zig-x86_64"], "cc", "-o", "x.o")
    assert run(wrappers["zig-x86_64"], "version").startswith("zig version")
    assert run(wrappers["zigar"], "rcs", "l.a").startswith("zig ar rcs")


def test_the_wrappers_answer_gcc_probes_and_work_without_home(wrappers, tmp_path):
    assert run(wrappers["zigcc-x86_64"], "-dumpversion", "-dumpfullversion").strip() == "12.2.0"
    # SCons runs compilers with a bare environment: zig still gets a cache folder.
    assert f"cache={tmp_path / 'zc'}" in run(wrappers["zig-x86_64"], "cc", env={"PATH": "/usr/bin:/bin"})


def test_sbom_licenses_prefer_the_spdx_expression_then_the_classifier():
    d = {"name": "x", "version": "1", "expression": None, "license": None,
         "classifiers": ["License :: OSI Approved :: MIT License"]}
    assert sbom._license_of(d) == ({"license": {"id": "MIT"}}, "MIT")
    assert sbom._license_of(dict(d, expression="Apache-2.0 OR MIT"))[1] == "Apache-2.0 OR MIT"
    with pytest.raises(SystemExit, match="no license"):
        sbom._license_of(dict(d, classifiers=[]))


def test_audit_allow_list_entries_need_a_reason(tmp_path):
    f = tmp_path / "allow.txt"
    f.write_text("# x\nPYSEC-1  accepted: not reachable from pscache\n")
    assert audit.read_allow(f) == {"PYSEC-1": "accepted: not reachable from pscache"}
    f.write_text("CVE-2026-1\n")
    with pytest.raises(SystemExit, match="has no reason"):
        audit.read_allow(f)


def test_audit_flags_a_newer_patch_release_of_a_pinned_native_series(monkeypatch):
    pins = {n: toolchain.Pin(n, v, "f", "0" * 64, "MIT", ["u"]) for n, v in
            [("cpython", "3.13.15"), ("openssl", "3.0.20"), ("zlib", "1.3.1"), ("libffi", "3.4.4")]}
    monkeypatch.setattr(audit.toolchain, "read_pins", lambda: pins)
    monkeypatch.setattr(audit, "debian_versions", lambda packages: {
        "python3.13": {"3.13.15"}, "openssl": {"3.0.20", "3.0.99", "3.5.1"}, "zlib": {"1.2.13"}, "libffi": set()})
    findings, _ = audit.audit_native({})
    assert findings == ["openssl 3.0.20: Debian ships 3.0.99 (openssl); re-pin build/toolchain-pins.txt"]
    findings, notes = audit.audit_native({"openssl@3.0.99": "fixes nothing pscache uses"})
    assert findings == [] and any("allowed: fixes nothing" in n for n in notes)
