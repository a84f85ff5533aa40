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
        calls.axhline(run["quota"], color="black", linestyle="--", linewidth=0.8, label="the quota")
        calls.set_title(f"{run['scenario']}: upstream calls per second", fontsize=9)
        errors.set_title(f"{run['scenario']}: invokes with an error, per second", fontsize=9)
        for ax in row:
            ax.set_yscale("symlog", linthresh=1)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.set_xlabel("seconds", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3)
    fig.suptitle(f"fleet model: {group}", fontsize=11)
    fig.tight_layout(rect=(0, 0.1 if len(runs) < 3 else 0.05, 1, 0.97))
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    """Plot again from scripts/fleet-model's --json: python -m bench.model.plot FILE.json DIR"""
    import json
    import sys

    data = json.loads(Path(sys.argv[1]).read_text())
    for group, runs in data["groups"].items():
        plot(group, runs, Path(sys.argv[2]) / f"fleet-model-{group}.png")


if __name__ == "__main__":
    main()
