"""The fleet benchmark's PNG: upstream calls per second of every scenario over the run, and the fleet's size."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402

from bench.fleet import Ramp, ScenarioResult  # noqa: E402


def plot(results: dict[str, ScenarioResult], ramp: Ramp, out: Path) -> None:
    fig, (calls, fleet) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, height_ratios=(3, 1))
    first = next(iter(results.values()))
    seconds = range(len(first.arrivals_per_second))
    calls.plot(seconds, first.arrivals_per_second, color="grey", linestyle="--", label="invokes arriving")
    for name, result in results.items():
        calls.plot(range(len(result.calls_per_second)), result.calls_per_second, label=f"{name}", linewidth=1.5)
        fleet.step(range(len(result.environments_per_second)), result.environments_per_second, where="post",
                   label=name, linewidth=1)
    calls.set_ylabel("upstream calls per second")
    calls.set_yscale("symlog", linthresh=1)
    calls.set_title(f"pscache fleet: arrivals {ramp.rate_from:g} → {ramp.rate_to:g}/s over {ramp.duration_s:g} s")
    calls.legend(fontsize=8, loc="upper left")
    calls.grid(alpha=0.3)
    fleet.set_ylabel("environments")
    fleet.set_xlabel("seconds since the first invoke")
    fleet.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
