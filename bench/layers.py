"""The benchmarks' --layer [NAME=]DIR arguments: unpacked layers to run side by side, each with a label."""

from __future__ import annotations

from pathlib import Path


def parse_layers(values: list[str]) -> list[tuple[str, Path]]:
    layers = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = "binary", value
        layers.append((f"pscache {name}", Path(path)))
    if len({n for n, _ in layers}) != len(layers):
        raise SystemExit("--layer names must differ (NAME=DIR)")
    return layers
