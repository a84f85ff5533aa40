"""The fleet simulator of bench/fleet.py, in a short run: the upstream call counts have the blog's shape."""

import pytest

from bench.fleet import Ramp, run_scenario
from harness import extensions_dir

KEYS = ["/pscache/string", "plain-name"]
SMOKE = Ramp(duration_s=8, rate_from=2, rate_to=6)
HOLD_S = 0.5  # at 6 invokes/s a 0.5 s invoke needs at least 3 environments


def test_the_default_schedule_is_the_blogs_ramp():
    arrivals = Ramp().arrivals()
    assert len(arrivals) == 1500  # 60 s, 10 -> 40 per second
    per_second = [sum(1 for t in arrivals if s <= t < s + 1) for s in range(60)]
    assert per_second[0] == 10 and 39 <= per_second[-1] <= 40
    assert arrivals == sorted(arrivals) and arrivals[-1] < 60


def run(tmp_path, base_env, proxy, ttl):
    result = run_scenario(f"TTL {ttl}", extensions_dir(tmp_path), base_env, {"SSM_PARAMETER_STORE_TTL": str(ttl)},
                          proxy, KEYS, SMOKE, HOLD_S, log=lambda line: None)
    assert len(result.invocations) == len(SMOKE.arrivals()) == 32
    assert result.failed == 0, [i for i in result.invocations if not i.ok]
    assert result.environments >= 3
    assert result.upstream_calls == proxy.count("GetParameter")
    assert sum(result.calls_per_second) == result.upstream_calls
    return result


@pytest.mark.slow
def test_ttl_300_fetches_each_key_once_per_environment(tmp_path, base_env, proxy):
    result = run(tmp_path, base_env, proxy, 300)
    assert result.upstream_calls == result.environments * len(KEYS)


@pytest.mark.slow
def test_ttl_0_fetches_on_every_invoke(tmp_path, base_env, proxy):
    result = run(tmp_path, base_env, proxy, 0)
    assert result.upstream_calls == len(result.invocations) * len(KEYS)


@pytest.mark.slow
def test_at_the_bound_invokes_wait_for_a_free_environment(tmp_path, base_env, proxy):
    # 4 invokes/s of 0.3 s each need 2 environments; with one, the rest queue and are still served.
    result = run_scenario("bounded", extensions_dir(tmp_path), base_env, {"SSM_PARAMETER_STORE_TTL": "300"}, proxy,
                          KEYS[:1], Ramp(duration_s=3, rate_from=4, rate_to=4), 0.3, max_environments=1,
                          log=lambda line: None)
    assert len(result.invocations) == 12 and result.failed == 0
    assert result.environments == 1 and result.summary()["queued"] > 0
    assert result.upstream_calls == 1


@pytest.mark.slow
def test_a_quota_on_the_local_ssm_is_counted_as_throttled_calls(tmp_path, base_env, proxy):
    proxy.limit(("GetParameter", "GetParameters", "GetParametersByPath"), rate=2, burst=2)
    result = run_scenario("quota", extensions_dir(tmp_path), base_env, {"SSM_PARAMETER_STORE_TTL": "0"}, proxy,
                          KEYS[:1], Ramp(duration_s=4, rate_from=4, rate_to=4), 0.1, log=lambda line: None)
    assert result.throttled_calls == sum(proxy.throttled.values()) > 0
    assert result.upstream_calls == proxy.count("GetParameter") > result.throttled_calls
    assert result.summary()["throttled_calls"] == result.throttled_calls
