"""The start-up budget's logic (scripts/instruction-gate): reading the budget file, and the verdict on figures."""

from __future__ import annotations

import json

import pytest

from bench.instruction_gate import Budget, BudgetError, verdicts
from bench.instructions import dump_total

BUDGET = {"instructions": 600_000_000, "peak_rss_kb": 40_000, "commit": "abc123", "tolerance": 0.03}


def budget_file(tmp_path, **changes):
    path = tmp_path / "budget.json"
    path.write_text(json.dumps({k: v for k, v in {**BUDGET, **changes}.items() if v is not None}))
    return path


@pytest.mark.parametrize("instructions,rss,ok,note", [
    (600_000_000, 40_000, True, None),
    (618_000_000, 41_200, True, None),  # +3 % exactly: within the tolerance
    (618_000_001, 40_000, False, "OVER"),  # one instruction more fails
    (600_000_000, 41_300, False, "OVER"),  # RSS alone fails too
    (500_000_000, 40_000, True, "lower it"),  # a gain is reported, so the budget follows it down
])
def test_the_gate_fails_only_above_the_budget_plus_the_tolerance(tmp_path, instructions, rss, ok, note):
    passed, lines = verdicts({"instructions": instructions, "peak_rss_kb": rss}, Budget.read(budget_file(tmp_path)))
    assert passed is ok
    assert all("abc123" in line for line in lines)
    assert (note is None and not any("OVER" in x or "lower" in x for x in lines)) or any(note in x for x in lines)


def test_a_budget_written_reads_back_with_its_commit(tmp_path):
    path = tmp_path / "budget.json"
    Budget({"instructions": 123, "peak_rss_kb": 45}, "0123456789ab", 0.05).write(path)
    budget = Budget.read(path)
    assert budget.figures == {"instructions": 123, "peak_rss_kb": 45}
    assert budget.commit == "0123456789ab" and budget.tolerance == 0.05


@pytest.mark.parametrize("changes,words", [
    ({"instructions": None}, "instructions"),
    ({"peak_rss_kb": "40 MB"}, "peak_rss_kb"),
    ({"commit": None}, "commit"),
    ({"tolerance": 3}, "fraction"),
])
def test_a_broken_budget_file_says_what_is_wrong(tmp_path, changes, words):
    with pytest.raises(BudgetError, match=words):
        Budget.read(budget_file(tmp_path, **changes))


def test_a_missing_budget_file_is_named(tmp_path):
    with pytest.raises(BudgetError, match="no-such.json"):
        Budget.read(tmp_path / "no-such.json")


def test_the_count_of_a_callgrind_dump_is_its_totals_line(tmp_path):
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npart: 1\nevents: Ir\n"
                    "fn=(1) main\n0 5\nsummary: 1096700000\ntotals: 1096700000\n")
    assert dump_total(dump) == 1_096_700_000
    (tmp_path / "empty").write_text("events: Ir\n")
    with pytest.raises(ValueError, match="no totals"):
        dump_total(tmp_path / "empty")
