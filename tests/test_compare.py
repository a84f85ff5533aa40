"""The functions of the comparison benchmark (bench/compare.py), each under the emulator for a few invokes:
every variant answers right, the SDK in the function calls AWS twice per invoke, the caches twice in all."""

import hashlib

import pytest

from bench.compare import VARIANTS, run_variant
from bench.node_sdk import ensure_node_sdk
from conftest import SECRET_V2
from harness import extensions_dir

INVOKES = 3


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.function)
def test_variant_answers_and_calls_aws_as_expected(variant, tmp_path, base_env, proxy):
    extra = {"BENCH_PARAMETER": "/pscache/string", "BENCH_SECRET": "pscache/secret"}
    if variant.function.endswith(".mjs"):
        extra["BENCH_NODE_MODULES"] = str(ensure_node_sdk())  # fails (does not skip) without node or npm
    empty = tmp_path / "no-extensions"
    empty.mkdir()
    run = run_variant(variant, base_env, proxy, extensions_dir(tmp_path), empty, INVOKES, log_dir=tmp_path / "logs",
                      extra_env=extra)
    expected = {"parameter": "value-v2", "secret_sha256": hashlib.sha256(SECRET_V2.encode()).hexdigest()}
    assert run.responses == [expected] * INVOKES
    per_api = INVOKES if variant.calls_per_invoke else 1
    assert (proxy.count("GetParameter"), proxy.count("GetSecretValue")) == (per_api, per_api)
    assert run.upstream_calls == 2 * per_api
    assert run.function_mb > 0 and (run.extension_mb > 0) == variant.with_pscache
