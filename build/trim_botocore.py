"""Shrink the botocore data that the layer keeps to what pscache's calls need.

botocore parses endpoints.json (1.2 MB, every AWS service) and each client's
whole service model (SSM: 890 KB, ~150 operations) into dicts it keeps for the
life of the process. pscache calls five operations, so the layer keeps only
their endpoint entries and the shapes those operations reach. Measured on
CPython: peak RSS after one parameter and one secret drops by ~11 MB.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

# The only calls pscache makes (app/upstream.py APIS; tests/test_build.py checks they agree).
# sts stays whole: credential providers use it.
OPERATIONS = {
    "ssm": ["GetParameter", "GetParameters", "GetParametersByPath"],
    "secretsmanager": ["GetSecretValue", "BatchGetSecretValue"],
}
ENDPOINT_SERVICES = {"ssm", "secretsmanager", "sts"}
# Beside botocore/data: the two services' whole models (without docs), which only the wire front's pass-through
# loads, on its first call of another operation (app/upstream.py WHOLE_MODELS), so the reads keep the small ones.
WHOLE_MODELS = "data-whole-models"


def trim_endpoints(document: dict) -> dict:
    for partition in document["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in ENDPOINT_SERVICES}
    return document


def _drop_docs(node) -> None:
    if isinstance(node, dict):
        node.pop("documentation", None)
        node.pop("documentationUrl", None)
        for value in node.values():
            _drop_docs(value)
    elif isinstance(node, list):
        for value in node:
            _drop_docs(value)


def trim_model(model: dict, operations: list[str]) -> dict:
    """Keep `operations` and every shape they reach (input, output, errors, transitively)."""
    missing = [op for op in operations if op not in model["operations"]]
    if missing:
        raise ValueError(f"operations not in the model: {missing}")
    shapes = model["shapes"]
    todo = []
    for op in operations:
        spec = model["operations"][op]
        todo += [spec[k]["shape"] for k in ("input", "output") if k in spec]
        todo += [e["shape"] for e in spec.get("errors", [])]
    needed: set[str] = set()
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        shape = shapes[name]
        todo += [m["shape"] for m in shape.get("members", {}).values()]
        todo += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    model["operations"] = {op: model["operations"][op] for op in operations}
    model["shapes"] = {k: v for k, v in shapes.items() if k in needed}
    _drop_docs(model)
    return model


def trim(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Rewrite the kept files in place; returns {file: (bytes before, bytes after)} (uncompressed)."""
    sizes = {}
    endpoints = data_dir / "endpoints.json"
    before = endpoints.stat().st_size
    endpoints.write_text(json.dumps(trim_endpoints(json.loads(endpoints.read_text())), separators=(",", ":")))
    sizes["endpoints.json"] = (before, endpoints.stat().st_size)
    for service, operations in OPERATIONS.items():
        (model_path,) = (data_dir / service).glob("*/service-2.json.gz")
        raw = gzip.decompress(model_path.read_bytes())
        model = json.loads(raw)
        _drop_docs(model)
        whole = data_dir.parent / WHOLE_MODELS / model_path.relative_to(data_dir)
        whole.parent.mkdir(parents=True, exist_ok=True)
        whole.write_bytes(gzip.compress(json.dumps(model, separators=(",", ":")).encode(), mtime=0))
        trimmed = json.dumps(trim_model(model, operations), separators=(",", ":")).encode()
        # mtime=0: the zip must be byte-for-byte reproducible.
        model_path.write_bytes(gzip.compress(trimmed, mtime=0))
        sizes[str(model_path.relative_to(data_dir))] = (len(raw), len(trimmed))
    return sizes
