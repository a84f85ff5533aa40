"""Sized environments (locallambda/sized.py in the emulator): behaviour, not timing precision.

They need root and writable cgroups, as .ci/run has; elsewhere the refusal test is the one that applies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from locallambda import pagecache
from locallambda.emulator import LambdaEmulator
from locallambda.sized import MB_PER_VCPU, cpu_quota_us, init_quota_us
from locallambda.tests.fakes import RUNTIME, fake_ext, make_ext, proc_state

BURN_MS = 150  # CPU time the runtime spends: ~0.15 s unconstrained, >2 s at 128 MB's 7 % of a CPU


def test_the_cpu_share_is_lambdas_proportion_of_one_cpu():
    assert cpu_quota_us(MB_PER_VCPU, cores=2) == 100_000
    assert cpu_quota_us(128, cores=2) == round(128 / 1769 * 100_000)  # 7.2 % of one CPU
    assert cpu_quota_us(3538, cores=2) == 200_000  # two CPUs above 1,769 MB...
    assert cpu_quota_us(10240, cores=2) == 200_000  # ... but never more than the host has


def test_a_boosted_init_gets_one_cpu_not_the_whole_host():
    assert init_quota_us(128, "boost", cores=2) == 100_000  # one CPU, as Lambda's boost is reported
    assert init_quota_us(128, "share", cores=2) == cpu_quota_us(128, cores=2)
    assert init_quota_us(3538, "boost", cores=2) == 200_000  # above 1,769 MB the share is already more
    with pytest.raises(ValueError, match="must be one of"):
        init_quota_us(128, "unthrottled")


def test_sized_memory_must_be_a_lambda_size(tmp_path):
    with pytest.raises(ValueError, match="memory_mb=64: Lambda allows a whole number of MB from 128 to 10240"):
        LambdaEmulator(tmp_path, sized=True, memory_mb=64)


@pytest.mark.slow
def test_a_cpu_bound_runtime_takes_far_longer_at_128_mb(emulator, tmp_path):
    def burn_ms(**kwargs):
        emu = emulator(tmp_path / "ext", runtime=RUNTIME, **kwargs)
        result = emu.invoke(payload={"burn_cpu_ms": BURN_MS}, timeout_s=30)
        assert result.ok, result
        emu.shutdown()
        return result.duration_ms, result.report

    free, _ = burn_ms()
    sized, report = burn_ms(sized=True, memory_mb=128)
    assert sized > 5 * free, (sized, free)
    assert report.sized and report.processes["runtime"].cpu_ms >= BURN_MS  # counted by the runtime's own cgroup


@pytest.mark.slow
def test_init_cpu_models_boost_init_and_throttle_invokes(emulator, tmp_path):
    runtime = RUNTIME + ["--burn-init-ms", str(BURN_MS)]
    figures = {}
    for model in ("share", "boost"):
        emu = emulator(tmp_path / model, runtime=runtime, sized=True, memory_mb=128, init_cpu=model)
        init = emu.init()
        assert init.ok, init
        result = emu.invoke(payload={"burn_cpu_ms": BURN_MS}, timeout_s=30)
        assert result.ok, result
        figures[model] = (init.duration_ms, result.duration_ms)
        emu.shutdown()
    (share_init, share_invoke), (boost_init, boost_invoke) = figures["share"], figures["boost"]
    assert share_init > 3 * boost_init, figures  # INIT at the quota against INIT unthrottled
    assert boost_invoke > 1000 and boost_invoke > 0.5 * share_invoke, figures  # invokes at the quota again


def test_a_frozen_environment_makes_no_progress_and_resumes(emulator, tmp_path):
    make_ext(tmp_path / "ext", "ticker", "--ticker")
    emu = emulator(tmp_path / "ext", sized=True, memory_mb=512)
    assert emu.init().ok and emu.frozen
    pid = emu.pid("ticker")
    assert proc_state(pid) == "D"  # stopped by the cgroup freezer (SIGSTOP would show "T")
    frozen_ticks = len(fake_ext.records(emu.output("ticker"), "TICK"))
    time.sleep(0.4)
    assert len(fake_ext.records(emu.output("ticker"), "TICK")) == frozen_ticks
    assert emu.invoke().ok  # thawed for the invoke, frozen again after it
    emu.thaw()
    time.sleep(0.4)
    assert len(fake_ext.records(emu.output("ticker"), "TICK")) > frozen_ticks + 5
    emu.shutdown()


def test_max_memory_used_reflects_a_known_allocation(emulator, tmp_path):
    emu = emulator(tmp_path / "ext", runtime=RUNTIME, sized=True, memory_mb=512)
    before = emu.invoke(payload={})
    after = emu.invoke(payload={"allocate_mb": 64})
    assert before.ok and after.ok and after.response["held_mb"] == 64
    grew = after.report.max_memory_used_mb - before.report.max_memory_used_mb
    assert 60 <= grew <= 80, (before.report, after.report)
    assert after.report.processes["runtime"].peak_rss_mb >= 64
    assert after.report.processes["runtime"].anon_mb >= 64
    assert "Max Memory Used: " in after.report.line() and "Memory Size: 512 MB" in after.report.line()
    assert before.report.init_duration_ms is not None and after.report.init_duration_ms is None
    emu.shutdown()


@pytest.mark.slow
def test_out_of_memory_kills_the_environment_and_the_next_invoke_is_cold(emulator, tmp_path):
    make_ext(tmp_path / "ext", "bystander")
    emu = emulator(tmp_path / "ext", runtime=RUNTIME, sized=True, memory_mb=128)
    first = emu.invoke(payload={})
    assert first.ok and first.init is not None
    oom = emu.invoke(payload={"allocate_mb": 200}, timeout_s=20)
    assert not oom.ok and oom.error_type == "Runtime.OutOfMemory", oom
    assert oom.report.error_type == "Runtime.OutOfMemory" and "Error Type: Runtime.OutOfMemory" in oom.report.line()
    assert oom.report.max_memory_used_mb >= 120
    assert oom.reset is not None and not emu.initialised  # the environment is gone
    again = emu.invoke(payload={})
    assert again.ok and again.init is not None and again.init.generation == first.init.generation + 1
    emu.shutdown()


def test_cold_start_evicts_the_files_from_the_page_cache(emulator, tmp_path):
    data = tmp_path / "layer" / "data.bin"
    data.parent.mkdir()
    data.write_bytes(os.urandom(4 << 20))
    data.read_bytes()  # cached now
    assert _resident_pages(data) > 0
    emu = emulator(tmp_path / "ext", evict_paths=[data.parent])
    assert emu.init().ok
    assert _resident_pages(data) == 0
    assert pagecache.evict([data.parent]) == 4 << 20


def _resident_pages(path: Path) -> int:
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def test_sized_refuses_at_once_where_cgroups_are_read_only(tmp_path):
    """In a mount namespace whose cgroup filesystems are read-only, asking for a sized environment fails when the
    emulator is made, with one message naming why; it never runs unconstrained."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if " - cgroup" in line]
    remount = "; ".join(f"mount -o remount,bind,ro {m}" for m in mounts)
    code = ("from locallambda.emulator import LambdaEmulator\n"
            "from locallambda.sized import SizedUnavailable\n"
            "try:\n"
            f"    LambdaEmulator({str(tmp_path)!r}, sized=True)\n"
            "except SizedUnavailable as e:\n"
            "    print('REFUSED', e)\n")
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          f"{remount}; exec {sys.executable} -c \"$0\"", code],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("REFUSED sized environments need cgroups with CPU and memory control: "), out
    assert "Read-only file system" in out.stdout
    assert shutil.which("unshare")
