"""Unit tests for build/gate.py (stdlib unittest; pytest collects them too).

    python -m pytest tests/test_gate.py

ELF inputs are synthesised byte by byte, so the tests need no compiler and no binutils.
"""
from __future__ import annotations

import os
import struct
import sys
import tempfile
import unittest
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build"))
import gate  # noqa: E402

pytestmark = pytest.mark.recipe  # left out of the binary tiers (tests/conftest.py)

BASE = 0x400000  # load address, so the parser must map addresses to file offsets


def make_elf(needed=(), rpath=None, runpath=None, versions=None, machine=62, dynamic=True) -> bytes:
    """A minimal little-endian ELF64 shared object: one PT_LOAD over the whole file, PT_DYNAMIC, verneed."""
    versions = versions or {}
    strtab = bytearray(b"\0")

    def s(text: str) -> int:
        off = len(strtab)
        strtab.extend(text.encode() + b"\0")
        return off

    needed_off = [s(n) for n in needed]
    rpath_off = s(rpath) if rpath else None
    runpath_off = s(runpath) if runpath else None
    vn = [(s(lib), [s(n) for n in names]) for lib, names in versions.items()]

    ph_off, ph_num = 64, 2 if dynamic else 1
    str_off = ph_off + 56 * ph_num
    vn_off = (str_off + len(strtab) + 3) & ~3
    verneed = bytearray()
    for i, (file_off, names) in enumerate(vn):
        last = i == len(vn) - 1
        verneed += struct.pack("<HHIII", 1, len(names), file_off, 16, 0 if last else 16 + 16 * len(names))
        for j, name_off in enumerate(names):
            verneed += struct.pack("<IHHII", 0, 0, j + 2, name_off, 0 if j == len(names) - 1 else 16)
    dyn_off = (vn_off + len(verneed) + 7) & ~7
    dyn = bytearray()
    for o in needed_off:
        dyn += struct.pack("<qQ", gate.DT_NEEDED, o)
    if rpath_off is not None:
        dyn += struct.pack("<qQ", gate.DT_RPATH, rpath_off)
    if runpath_off is not None:
        dyn += struct.pack("<qQ", gate.DT_RUNPATH, runpath_off)
    dyn += struct.pack("<qQ", gate.DT_STRTAB, BASE + str_off)
    if vn:
        dyn += struct.pack("<qQ", gate.DT_VERNEED, BASE + vn_off)
        dyn += struct.pack("<qQ", gate.DT_VERNEEDNUM, len(vn))
    dyn += struct.pack("<qQ", gate.DT_NULL, 0)
    size = dyn_off + len(dyn)

    out = bytearray(size)
    out[0:16] = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", out, 16, 3, machine, 1, 0, ph_off, 0, 0, 64, 56, ph_num, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", out, ph_off, gate.PT_LOAD, 5, 0, BASE, BASE, size, size, 0x1000)
    if dynamic:
        struct.pack_into("<IIQQQQQQ", out, ph_off + 56, gate.PT_DYNAMIC, 6, dyn_off, BASE + dyn_off,
                         BASE + dyn_off, len(dyn), len(dyn), 8)
    out[str_off:str_off + len(strtab)] = strtab
    out[vn_off:vn_off + len(verneed)] = verneed
    out[dyn_off:dyn_off + len(dyn)] = dyn
    return bytes(out)


KEEP = [("endpoints.json", False), ("ssm/*/service-2.json.gz", False), ("*/*/service-2.sdk-extras.json", True)]


class LayerCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.layer = Path(self._tmp.name) / "layer"
        self.write("extensions/pscache", b"#!/bin/sh\n", 0o755)
        self.write("pscache/pscache", make_elf(["libc.so.6"], rpath="$ORIGIN",
                                               versions={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.17"]}), 0o755)
        self.write("pscache/lib/botocore/data/endpoints.json", b"{}")
        self.write("pscache/lib/botocore/data/ssm/2014-11-06/service-2.json.gz", b"x")
        for d in [self.layer, *self.layer.rglob("*")]:
            if d.is_dir():
                d.chmod(0o755)

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, rel: str, data: bytes, mode: int = 0o644) -> Path:
        p = self.layer / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        for d in [p.parent, *p.parent.parents]:
            if d == self.layer.parent:
                break
            d.chmod(0o755)
        p.write_bytes(data)
        p.chmod(mode)
        return p

    def gate(self, ceiling=(2, 26), arch="x86_64", report=None) -> gate.GateResult:
        r = gate.check_elf(self.layer, ceiling, arch)
        return gate.check_content(self.layer, KEEP, report, r)


class ReadElf(unittest.TestCase):
    def test_round_trip(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(make_elf(["libssl.so.3", "libc.so.6"], rpath="$ORIGIN:$ORIGIN/..",
                             versions={"libc.so.6": ["GLIBC_2.2.5", "GLIBC_2.28", "GLIBC_2.17"],
                                       "libstdc++.so.6": ["GLIBCXX_3.4.21", "CXXABI_1.3.9"]}))
            f.flush()
            info = gate.read_elf(f.name)
        self.assertEqual(info.needed, ["libssl.so.3", "libc.so.6"])
        self.assertEqual(info.rpath, ["$ORIGIN", "$ORIGIN/.."])
        self.assertEqual(info.runpath, [])
        self.assertEqual(info.max_version("GLIBC_"), (2, 28))
        self.assertEqual(info.max_version("GLIBCXX_"), (3, 4, 21))
        self.assertEqual(info.max_version("CXXABI_"), (1, 3, 9))

    def test_static_binary_needs_nothing(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(make_elf(dynamic=False))
            f.flush()
            info = gate.read_elf(f.name)
        self.assertEqual((info.needed, info.versions), ([], {}))

    def test_not_elf_and_truncated(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"#!/bin/sh\n")
            f.flush()
            self.assertFalse(gate.is_elf(f.name))
            self.assertRaises(gate.ElfError, gate.read_elf, f.name)
        with tempfile.NamedTemporaryFile() as f:
            f.write(make_elf(["libc.so.6"])[:100])
            f.flush()
            self.assertRaises(gate.ElfError, gate.read_elf, f.name)

    def test_version_order_is_numeric(self):
        self.assertLess(gate.parse_version("GLIBC_2.2.5", "GLIBC_"), gate.parse_version("GLIBC_2.17", "GLIBC_"))
        self.assertLess(gate.parse_version("GLIBC_2.17", "GLIBC_"), gate.parse_version("GLIBC_2.26", "GLIBC_"))
        self.assertIsNone(gate.parse_version("GLIBC_PRIVATE", "GLIBC_"))

    @unittest.skipUnless(os.path.exists("/bin/sh") and gate.is_elf("/bin/sh"), "no ELF /bin/sh")
    def test_real_system_binary(self):
        info = gate.read_elf(os.path.realpath("/bin/sh"))
        self.assertIn("libc.so.6", info.needed)
        self.assertIsNotNone(info.max_version("GLIBC_"))


class ElfGate(LayerCase):
    def test_clean_layer_passes(self):
        r = self.gate()
        self.assertEqual(r.errors, [])
        self.assertEqual(len(r.elf), 1)

    def test_glibc_ceiling(self):
        self.write("pscache/_ssl.so", make_elf(["libc.so.6"], versions={"libc.so.6": ["GLIBC_2.28"]}))
        self.assertTrue(any("GLIBC_2.28 > 2.26" in e for e in self.gate((2, 26)).errors))
        self.assertEqual(self.gate((2, 34)).errors, [])

    def test_glibc_private_fails(self):
        self.write("pscache/x.so", make_elf(["libc.so.6"], versions={"libc.so.6": ["GLIBC_PRIVATE"]}))
        self.assertTrue(any("GLIBC_PRIVATE" in e for e in self.gate().errors))

    def test_glibcxx_ceiling(self):
        self.write("pscache/frozenlist/_frozenlist.so",
                   make_elf(["libstdc++.so.6"], versions={"libstdc++.so.6": ["GLIBCXX_3.4.26"]}))
        self.assertTrue(any("GLIBCXX_3.4.26" in e for e in self.gate().errors))

    def test_needed_must_ship_or_be_system(self):
        self.write("pscache/_ssl.so", make_elf(["libssl.so.3", "libc.so.6"], rpath="$ORIGIN"))
        self.assertTrue(any("libssl.so.3" in e for e in self.gate().errors))
        self.write("pscache/libssl.so.3", make_elf(["libc.so.6"]))
        self.assertEqual(self.gate().errors, [])

    def test_shipped_but_unreachable_is_a_warning(self):
        self.write("pscache/libfoo.so.1", make_elf(["libc.so.6"]))
        self.write("pscache/pkg/_ext.so", make_elf(["libfoo.so.1"], rpath="$ORIGIN"))
        r = self.gate()
        self.assertEqual(r.errors, [])
        self.assertTrue(any("libfoo.so.1" in w for w in r.warnings))

    def test_runpath_and_absolute_rpath_fail(self):
        self.write("pscache/a.so", make_elf(["libc.so.6"], runpath="$ORIGIN"))
        self.write("pscache/b.so", make_elf(["libc.so.6"], rpath="/usr/local/lib"))
        errors = self.gate().errors
        self.assertTrue(any("DT_RUNPATH" in e for e in errors))
        self.assertTrue(any("/usr/local/lib" in e for e in errors))

    def test_wrong_machine(self):
        self.write("pscache/arm.so", make_elf(["libc.so.6"], machine=183))
        self.assertTrue(any("expected x86_64" in e for e in self.gate().errors))
        self.assertTrue(any("expected arm64" in e for e in self.gate(arch="arm64").errors))


class ContentGate(LayerCase):
    def test_botocore_data_keep_list(self):
        self.write("pscache/lib/botocore/data/s3/2006-03-01/service-2.json.gz", b"x")
        self.assertTrue(any("s3/2006-03-01" in e for e in self.gate().errors))

    def test_botocore_required_pattern_missing(self):
        (self.layer / "pscache/lib/botocore/data/endpoints.json").unlink()
        self.assertTrue(any("'endpoints.json'" in e for e in self.gate().errors))

    def test_optional_pattern_may_be_absent_or_present(self):
        self.assertEqual(self.gate().errors, [])
        self.write("pscache/lib/botocore/data/ssm/2014-11-06/service-2.sdk-extras.json", b"{}")
        self.assertEqual(self.gate().errors, [])

    def test_forbidden_package_in_tree(self):
        self.write("pscache/uvloop/loop.cpython-312-x86_64-linux-gnu.so", make_elf(["libc.so.6"]))
        self.assertTrue(any("unexpected package uvloop" in e for e in self.gate().errors))

    def test_forbidden_module_in_report(self):
        report = Path(self._tmp.name) / "report.xml"
        report.write_text('<nuitka-compilation-report><module name="s3transfer.manager" kind="CompiledPythonModule"/>'
                          '<module name="botocore.session" kind="PythonBytecodeModule"/>'
                          '</nuitka-compilation-report>')
        errors = self.gate(report=report).errors
        self.assertEqual(len([e for e in errors if "report:" in e]), 1)
        self.assertIn("s3transfer", errors[0])

    def test_symlink_and_modes(self):
        os.symlink("pscache", self.layer / "pscache" / "link")
        self.write("pscache/odd.txt", b"", 0o600)
        errors = self.gate().errors
        self.assertTrue(any("symlink" in e for e in errors))
        self.assertTrue(any("mode 600" in e for e in errors))

    def test_extensions_holds_only_the_launcher(self):
        self.write("extensions/other", b"#!/bin/sh\n", 0o755)
        self.assertTrue(any("extensions/ holds" in e for e in self.gate().errors))

    def test_keep_file_parsing(self):
        keep = Path(self._tmp.name) / "keep.txt"
        keep.write_text("# comment\nendpoints.json\n\nsts/*/service-2.json.gz?  # optional\n")
        self.assertEqual(gate.load_keep_patterns(keep),
                         [("endpoints.json", False), ("sts/*/service-2.json.gz", True)])


if __name__ == "__main__":
    unittest.main()
