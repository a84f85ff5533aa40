"""bench-sized (bench/sized.py) in one short run: pscache and the compiled floor each serve the Go function's
first value from a cold, sized environment, and every figure of the table is there and plausible."""

import pytest

from bench.seeded_aws import PARAM_NAME, PARAM_VALUE, SECRET_ID, SECRET_VALUE
from bench.sized import FIGURES, build_reference, floor_candidate, pscache_candidate, run_environment
from harness import extensions_dir


@pytest.fixture(scope="module")
def bench_items(aws):
    """The bench's parameter and secret, in the suite's local AWS."""
    aws["ssm"].put_parameter(Name=PARAM_NAME, Value=PARAM_VALUE, Type="String", Overwrite=True)
    try:
        aws["sm"].create_secret(Name=SECRET_ID, SecretString=SECRET_VALUE)
    except aws["sm"].exceptions.ResourceExistsException:
        pass


@pytest.mark.slow
@pytest.mark.parametrize("model", ["share", "boost"])
def test_pscache_and_the_floor_serve_the_first_value_of_a_sized_cold_start(tmp_path, proxy, bench_items, model):
    built = build_reference(tmp_path / "reference")
    for candidate in (pscache_candidate("pscache", extensions_dir(tmp_path)), floor_candidate(built)):
        figures = run_environment(candidate, built["function"], proxy.url, 1024, model, 3, tmp_path / "logs")
        assert set(FIGURES) <= set(figures)
        assert 0 < figures["register_ms"] < figures["init_ms"] < figures["cold_to_first_value_ms"]
        assert figures["init_ms"] >= 50  # the function's own init
        assert figures["cpu_ms"] > 0 and figures["hit_ms"] < figures["first_read_ms"]
        assert figures["extension_memory_mb"] <= figures["max_memory_used_mb"] < 1024
        assert figures["peak_anon_mb"] + figures["peak_file_mb"] <= figures["peak_rss_mb"] + 1
        assert "Init Duration" in figures["report"] and "Memory Size: 1024 MB" in figures["report"]
    assert figures["hit_states"] == ["", ""]  # the floor does not send pscache's headers
