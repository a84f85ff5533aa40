"""A short soak in the suite (bench/soak.py; `scripts/soak --seconds 600` for the full run in docs/reliability.md)."""

import os

import pytest

from bench import soak
from harness import extensions_dir

SECONDS = float(os.environ.get("PSCACHE_SOAK_SECONDS", "45"))


@pytest.mark.slow
def test_mixed_traffic_freezes_and_faults_leave_memory_and_fds_flat(tmp_path, proxy, moto, aws):
    soak.seed(moto)
    report = soak.run(SECONDS, proxy, extensions_dir(tmp_path), tmp_path, warmup_s=min(20.0, SECONDS / 2))
    print(report)
    assert report["unexpected"] == []  # no error other than the injected ones
    assert report["invokes"] >= 10 and report["faults_injected"] >= len(soak.FAULTS)
    assert report["rss_growth_pct"] < 5
    assert report["fds_end"] <= report["fds_warmup_max"]
    assert report["tracebacks"] == 0
    assert report["shutdown"]["state"] == "Exited" and report["shutdown"]["exit_code"] == 0
