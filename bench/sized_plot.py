"""bench-sized's PNG: cold start -> first value and Max Memory Used against memory size, one line per candidate
and INIT CPU model."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402


def plot(medians: dict, names: list[str], sizes: list[int], models: list[str], out: Path) -> None:
    fig, (cold, memory) = plt.subplots(1, 2, figsize=(12, 5))
    styles = {"share": "-", "boost": "--"}
    markers = {"share": "o", "boost": "s"}
    for index, name in enumerate(names):
        color = f"C{index}"
        for model in models:
            points = [(s, medians[f"{name}|{s}|{model}"]) for s in sizes if f"{name}|{s}|{model}" in medians]
            xs = [s for s, _ in points]
            style = dict(linestyle=styles.get(model, ":"), marker=markers.get(model, "x"), color=color,
                         label=f"{name}, INIT {model}")
            cold.plot(xs, [m["cold_to_first_value_ms"] for _, m in points], **style)
            memory.plot(xs, [m["max_memory_used_mb"] for _, m in points], **style)
    cold.set(xscale="log", yscale="log", xlabel="function memory (MB)", ylabel="cold start → first value (ms)",
             title="Cold start to the function's first value")
    memory.set(xscale="log", xlabel="function memory (MB)", ylabel="Max Memory Used (MB)",
               title="Max Memory Used of the environment")
    memory.set_ylim(bottom=0)
    for ax in (cold, memory):
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
    cold.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
