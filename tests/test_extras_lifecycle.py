"""pscache's extras inside the Lambda emulator: prefetch, refresh ahead on INVOKE across freezes, stale through
an outage, SnapStart, Managed Instances and EMF metrics, counted at the local AWS."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from locallambda import fault_proxy as faults
from harness import http_get
from locallambda.emulator import LMI, SNAP_START

PARAM = "/systemsmanager/parameters/get?name=%2Fpscache%2Fstring"
SECURE = "/systemsmanager/parameters/get?name=%2Fpscache%2Fsecure&withDecryption=true"
SECRET = "/secretsmanager/get?secretId=pscache%2Fsecret"
BINARY = "/secretsmanager/get?secretId=pscache%2Fbinary&versionStage=AWSCURRENT"
PREFETCH = ("ssm:/pscache/string, ssm:/pscache/secure?withDecryption=true ssm:/pscache/absent "
            "secret:pscache/secret secretsmanager:pscache/binary?versionStage=AWSCURRENT")


def reads(port, *paths):
    def handler(event, context):
        return [http_get(port, p).headers.get("x-pscache-cache") for p in paths]
    return handler


def test_warm_start_creates_both_clients_during_init_without_calling_aws(lam, proxy):
    emu, port = lam()
    assert emu.init().ok

    def stats(event, context):
        deadline = time.monotonic() + 2
        while True:
            body = http_get(port, "/pscache/stats").json()
            if len(body["clients"]) == 2 or time.monotonic() > deadline:
                return body

    body = emu.invoke(stats).response
    assert sorted(body["clients"]) == ["secretsmanager", "ssm"] and body["upstream"] == {}
    assert sum(proxy.calls.values()) == 0


def test_prefetched_values_make_the_first_invoke_all_hits(lam, proxy):
    emu, port = lam({"PSCACHE_PREFETCH": PREFETCH})
    assert emu.init().ok
    # In as few calls as the APIs allow: GetParameters per decryption setting, one batch for the unversioned
    # secrets, GetSecretValue for the versioned one.
    assert proxy.count("GetParameters") == 2 and proxy.count("BatchGetSecretValue") == 1
    assert proxy.count("GetSecretValue") == 1 and proxy.count("GetParameter") == 0
    result = emu.invoke(reads(port, PARAM, SECURE, SECRET, BINARY))
    assert result.ok and result.response == ["hit"] * 4, result
    out = emu.output("pscache")
    assert "'/pscache/absent' was not found" in out and "prefetched 4 of 5 item(s)" in out


def test_prefetch_by_path_caches_the_path_answer_and_every_item_under_it(lam, proxy):
    emu, port = lam({"PSCACHE_PREFETCH": "ssm-path:/pscache/lru, ssm-path:/pscache?recursive=true&withDecryption=true "
                                         "ssm:/pscache/string"})
    assert emu.init().ok
    assert proxy.count("GetParametersByPath") >= 2 and proxy.count("GetParameters") == 1
    calls = sum(proxy.calls.values())
    result = emu.invoke(reads(port, "/systemsmanager/parameters/path?path=/pscache/lru",
                              "/systemsmanager/parameters/path?path=/pscache&recursive=true&withDecryption=true",
                              "/systemsmanager/parameters/get?name=%2Fpscache%2Flru%2F3",
                              "/systemsmanager/parameters/get?name=%2Fpscache%2Fsecure&withDecryption=true", PARAM))
    assert result.ok and result.response == ["hit"] * 5, result
    assert sum(proxy.calls.values()) == calls
    out = emu.output("pscache")
    assert "prefetched 3 of 3 item(s), and the" in out and "parameter(s) under the path(s)" in out


def test_a_read_of_an_entry_being_prefetched_waits_for_that_fetch(lam, proxy):
    seen = {}

    def function_init():
        deadline = time.monotonic() + 10
        while proxy.count("GetParameters") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # the prefetch call has reached AWS and is being held there
        seen["r"] = http_get(port, PARAM)

    proxy.inject("GetParameters", faults.delay(1.0))
    emu, port = lam({"PSCACHE_PREFETCH": "ssm:/pscache/string"}, runtime_init=function_init)
    assert emu.init().ok
    assert seen["r"].status == 200 and seen["r"].headers["x-pscache-cache"] == "coalesced"
    assert proxy.count("GetParameter") == 0 and proxy.count("GetParameters") == 1


def test_refresh_ahead_on_invoke_means_reads_never_wait_across_freezes(lam, proxy):
    emu, port = lam({"SSM_PARAMETER_STORE_TTL": 2, "PSCACHE_REFRESH_AHEAD_PERCENT": 60})
    assert emu.init().ok
    states = []
    deadline = time.monotonic() + 6  # three TTLs of invokes, frozen in between
    while time.monotonic() < deadline:
        result = emu.invoke(reads(port, PARAM))
        assert result.ok, result
        states += result.response
        time.sleep(0.25)
    assert states[0] == "miss" and set(states[1:]) == {"hit"}, states
    assert proxy.count("GetParameter") >= 3


def test_snapstart_prefetches_at_the_first_invoke_not_into_the_snapshot(lam, proxy):
    emu, port = lam({"PSCACHE_PREFETCH": "ssm:/pscache/string secret:pscache/secret"}, mode=SNAP_START)
    assert emu.init().ok
    time.sleep(0.5)
    assert proxy.count("GetParameters") == 0 and proxy.count("BatchGetSecretValue") == 0

    def handler(event, context):
        return [http_get(port, p, token=emu.container_token).headers.get("x-pscache-cache") for p in (PARAM, SECRET)]

    first = emu.invoke(handler)
    # The INVOKE event and the handler's reads race: a read either joins the prefetch or fetches first
    # (and the prefetch then skips that item). Either way each value is fetched once.
    assert first.ok and set(first.response) <= {"hit", "coalesced", "miss"}, first
    second = emu.invoke(handler)
    assert second.ok and second.response == ["hit", "hit"], second
    assert proxy.count("GetParameters") + proxy.count("GetParameter") == 1
    assert proxy.count("BatchGetSecretValue") + proxy.count("GetSecretValue") == 1


def test_managed_instances_refresh_ahead_from_request_traffic(lam, proxy):
    emu, port = lam({"SSM_PARAMETER_STORE_TTL": 2, "PSCACHE_REFRESH_AHEAD_PERCENT": 60}, mode=LMI)
    assert emu.init().ok
    assert emu.agent("pscache").events == ["SHUTDOWN"]  # no INVOKE events: traffic drives the refresh
    states = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states += emu.invoke(reads(port, PARAM)).response
        time.sleep(0.2)
    assert states[0] == "miss" and set(states[1:]) == {"hit"}, states
    assert proxy.count("GetParameter") >= 2
    # Managed Instances send invocations concurrently into one environment: all served, none waits on another.
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: emu.invoke(reads(port, PARAM, SECRET)), range(10)))
    assert all(r.ok and r.response == ["hit", r.response[1]] for r in results)
    assert proxy.count("GetSecretValue") == 1


def test_emf_lines_every_n_invokes_and_at_shutdown(lam, proxy):
    emu, port = lam({"PSCACHE_METRICS_EMF": "true", "PSCACHE_METRICS_EVERY_INVOKES": 2})
    assert emu.init().ok
    for _ in range(4):
        assert emu.invoke(reads(port, PARAM)).ok
    assert emu.shutdown().extensions["pscache"].state == "Exited"
    lines = [json.loads(x) for x in emu.output("pscache").splitlines() if x.startswith("{")]
    assert len(lines) == 3  # after invokes 2 and 4, and at SHUTDOWN
    assert all(line["FunctionName"] == emu.function_name for line in lines)
    # Deltas since the previous line, so CloudWatch's sums are right.
    assert sum(line["CacheMisses"] for line in lines) == 1 and sum(line["CacheHits"] for line in lines) == 3


@pytest.mark.slow
def test_a_sixty_second_outage_fails_no_read_of_a_cached_key(lam, proxy):
    emu, port = lam({"SSM_PARAMETER_STORE_TTL": 1, "SECRETS_MANAGER_TTL": 1, "PSCACHE_STALE_IF_ERROR": 300})
    assert emu.init().ok

    def handler(event, context):
        return [http_get(port, p).status for p in (PARAM, SECRET)]

    assert emu.invoke(handler).response == [200, 200]
    outage = [faults.error(503, "ServiceUnavailable"), faults.throttle(), faults.reset(), faults.delay(5)]
    failed = invokes = 0
    started = time.monotonic()
    while time.monotonic() - started < 60:
        fault = outage[int(time.monotonic() - started) // 15]  # four kinds, 15 s each
        proxy.always("GetParameter", fault)
        proxy.always("GetSecretValue", fault)
        result = emu.invoke(handler, timeout_s=30)
        invokes += 1
        failed += sum(status != 200 for status in result.response or [0, 0])
        time.sleep(0.2)
    proxy.always("GetParameter", None)
    proxy.always("GetSecretValue", None)
    assert invokes > 50 and failed == 0
