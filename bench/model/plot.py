"""The model's PNG per group of scenarios: upstream calls per second against the quota, and invokes that got an
error, per candidate over the run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402


def plot(group: str, runs: list[dict], out: Path) -> None:
    """runs: one dict per scenario, {"scenario": name, "quota": calls/s, "candidates": {name: per-second series}}."""
    fig, axes = plt.subplots(len(runs), 2, figsize=(13, 3.2 * len(runs)), squeeze=False)
    for row, run in zip(axes, runs):
        calls, errors = row
        for name, series in run["candidates"].items():
            seconds = range(len(series["calls"]))
            calls.plot(seconds, series["calls"], label=name, linewidth=1)
            errors.plot(seconds, series["errors"], label=name, linewidth=1)
        calls.axhline(run["quota"], color="black", linestyle="--", linewidth=0.8, label=f"quota {run['quota']:g}/s")
        calls.set_title(f"{run['scenario']}: upstream calls per second", fontsize=9)
        errors.set_title(f"{run['scenario']}: invokes with an error, per second", fontsize=9)
        for ax in row:
            ax.set_yscale("symlog", linthresh=1)
            ax.grid(alpha=0.3)
            ax.set_xlabel("seconds", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"fleet model: {group}", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
