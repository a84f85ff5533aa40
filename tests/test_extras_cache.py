"""pscache's cache beyond the AWS extension, shown by counting the calls that reach the local AWS:
single flight, stale-if-error, refresh ahead from traffic, refreshNow, invalidation, name/ARN aliasing,
longer TTLs and the byte cap."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from locallambda import fault_proxy as faults

PARAM = "/systemsmanager/parameters/get"
SECRET = "/secretsmanager/get"


def param(ext, name, extra=""):
    return ext.get(f"{PARAM}?name={quote(name, safe='')}{extra}")


def fresh_parameter(aws, value="v1") -> str:
    name = f"/pscache/extras/{uuid.uuid4().hex[:8]}"
    aws["ssm"].put_parameter(Name=name, Value=value, Type="String")
    return name


def test_fifty_concurrent_first_reads_make_one_upstream_call(start_ext, proxy):
    ext = start_ext()
    proxy.inject("GetParameter", faults.delay(0.5))  # keep the first fetch in flight while the others arrive
    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: param(ext, "/pscache/string"), range(50)))
    assert [a.status for a in answers] == [200] * 50
    assert {a.json()["Parameter"]["Value"] for a in answers} == {"value-v2"}
    assert proxy.count("GetParameter") == 1
    states = [a.headers["x-pscache-cache"] for a in answers]
    assert states.count("miss") == 1 and states.count("coalesced") + states.count("hit") == 49
    assert states.count("coalesced") >= 1


def test_concurrent_readers_of_a_failing_fetch_all_get_its_error(start_ext, proxy):
    ext = start_ext()
    proxy.inject("GetSecretValue", faults.delay(0.4))
    proxy.always("GetSecretValue", faults.error(400, "ResourceNotFoundException", "no such secret"))
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: ext.get(f"{SECRET}?secretId=pscache/nothing"), range(20)))
    assert {a.status for a in answers} == {404}
    assert {a.error_code for a in answers} == {"ResourceNotFoundException"}
    assert proxy.count("GetSecretValue") == 1


def test_stale_value_is_served_while_the_upstream_fails_transiently(start_ext, proxy):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=1, PSCACHE_STALE_IF_ERROR=60)
    assert param(ext, "/pscache/string").status == 200
    time.sleep(1.1)
    for fault in (faults.throttle(), faults.error(503, "ServiceUnavailable"), faults.reset()):
        proxy.always("GetParameter", fault)
        r = param(ext, "/pscache/string")
        assert r.status == 200 and r.json()["Parameter"]["Value"] == "value-v2"
        assert r.headers["x-pscache-cache"] == "stale" and r.headers["x-pscache-stale-reason"]
        assert int(r.headers["x-pscache-age"]) >= 1
        time.sleep(0.6)
    assert "serving a stale value" in ext.output()
    proxy.always("GetParameter", None)
    # The next read is still served stale at once and revalidates in the background; then hits again.
    states = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and states[-1:] != ["hit"]:
        r = param(ext, "/pscache/string")
        assert r.status == 200
        states.append(r.headers["x-pscache-cache"])
        time.sleep(0.2)
    assert states[-1] == "hit" and int(r.headers["x-pscache-age"]) <= 1


def test_during_an_outage_only_the_first_read_waits(start_ext, proxy):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=1, PSCACHE_STALE_IF_ERROR=60)
    assert param(ext, "/pscache/list").status == 200
    time.sleep(1.1)
    proxy.always("GetParameter", faults.error(503, "ServiceUnavailable"))
    assert param(ext, "/pscache/list").headers["x-pscache-cache"] == "stale"  # waited for 3 attempts
    before = proxy.count("GetParameter")
    for _ in range(20):
        r = param(ext, "/pscache/list")
        assert r.status == 200 and r.headers["x-pscache-cache"] == "stale"
    # No read waited on an attempt of its own: retried in the background about once a second, not per read.
    assert proxy.count("GetParameter") - before <= 3 * 2


@pytest.mark.parametrize("fault,status", [
    (faults.error(400, "ParameterNotFound", "gone"), 404),
    (faults.error(400, "AccessDeniedException", "no"), 403),
])
def test_not_found_and_access_denied_are_never_masked_by_stale(start_ext, proxy, fault, status):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=1, PSCACHE_STALE_IF_ERROR=60)
    assert param(ext, "/pscache/string").status == 200
    time.sleep(1.1)
    proxy.always("GetParameter", fault)
    assert param(ext, "/pscache/string").status == status


def test_without_stale_if_error_an_expired_entry_is_not_served(start_ext, proxy):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=1)
    assert param(ext, "/pscache/string").status == 200
    time.sleep(1.1)
    proxy.always("GetParameter", faults.throttle())
    assert param(ext, "/pscache/string").status == 429


def test_stale_window_ends(start_ext, proxy):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=1, PSCACHE_STALE_IF_ERROR=1)
    assert param(ext, "/pscache/string").status == 200
    time.sleep(2.2)
    proxy.always("GetParameter", faults.error(500, "InternalServerError"))
    assert param(ext, "/pscache/string").status == 502


def test_refresh_ahead_from_traffic_keeps_reads_from_waiting(start_ext, proxy, aws):
    name = fresh_parameter(aws)
    ext = start_ext(SSM_PARAMETER_STORE_TTL=2, PSCACHE_REFRESH_AHEAD_PERCENT=50)
    assert param(ext, name).headers["x-pscache-cache"] == "miss"
    states = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # reads every 0.2 s across two and a half TTLs
        r = param(ext, name)
        assert r.status == 200
        states.append(r.headers["x-pscache-cache"])
        time.sleep(0.2)
    assert set(states) == {"hit"}, states
    assert proxy.count("GetParameter") >= 3  # refreshed in the background, roughly once per TTL


def test_refresh_now_fetches_anew_and_recaches(start_ext, proxy, aws):
    name = fresh_parameter(aws, "before")
    ext = start_ext()
    assert param(ext, name).json()["Parameter"]["Value"] == "before"
    aws["ssm"].put_parameter(Name=name, Value="after", Type="String", Overwrite=True)
    assert param(ext, name).json()["Parameter"]["Value"] == "before"
    r = param(ext, name, "&refreshNow=true")
    assert r.json()["Parameter"]["Value"] == "after" and r.headers["x-pscache-cache"] == "miss"
    assert param(ext, name).json()["Parameter"]["Value"] == "after"
    assert proxy.count("GetParameter") == 2
    assert ext.get(f"{SECRET}?secretId=pscache/secret&refreshNow=1").status == 200
    assert ext.get(f"{SECRET}?secretId=pscache/secret&refreshNow=1").status == 200
    assert proxy.count("GetSecretValue") == 2
    assert param(ext, name, "&refreshNow=maybe").error_code == "InvalidParameterValue"


def test_invalidate_drops_entries_without_fetching(start_ext, proxy, aws):
    ext = start_ext()
    name = fresh_parameter(aws)
    param(ext, name)
    param(ext, name, "&withDecryption=true")
    param(ext, "/pscache/list")
    ext.get(f"{SECRET}?secretId=pscache/secret")
    r = ext.get(f"/pscache/invalidate?name={quote(name, safe='')}", method="POST")
    assert r.status == 200 and r.json() == {"Invalidated": 2}
    assert proxy.count("GetParameter") == 3  # invalidating fetched nothing
    param(ext, name)
    param(ext, "/pscache/list")
    assert proxy.count("GetParameter") == 4  # only the dropped name was fetched again
    r = ext.get(f"/pscache/invalidate?secretId={quote(ext_secret_arn(aws), safe='')}", method="POST")
    assert r.json() == {"Invalidated": 1}  # by ARN, although it was read by name
    assert ext.get("/pscache/invalidate?all=true", method="POST").json() == {"Invalidated": 2}
    assert ext.get("/pscache/invalidate?all=true", method="POST", token=None).status == 403
    r = ext.get("/pscache/invalidate", method="POST")
    assert r.status == 400 and r.error_code == "MissingParameter"
    r = ext.get("/pscache/invalidate?all=true")
    assert r.status == 405 and r.headers["allow"] == "POST"


def ext_secret_arn(aws) -> str:
    return aws["secret_arn"]


def test_name_and_arn_are_one_entry(start_ext, proxy, aws):
    ext = start_ext()
    name = fresh_parameter(aws)
    arn = param(ext, name).json()["Parameter"]["ARN"]
    r = param(ext, arn)
    assert r.status == 200 and r.headers["x-pscache-cache"] == "hit"
    assert proxy.count("GetParameter") == 1
    # And the reverse, for secrets: first by ARN, then by name.
    assert ext.get(f"{SECRET}?secretId={quote(aws['binary_arn'], safe='')}").status == 200
    r = ext.get(f"{SECRET}?secretId=pscache/binary")
    assert r.status == 200 and r.headers["x-pscache-cache"] == "hit"
    assert proxy.count("GetSecretValue") == 1


def test_selector_in_the_name_and_in_the_query_are_one_entry(start_ext, proxy):
    ext = start_ext()
    assert param(ext, "/pscache/string:1").json()["Parameter"]["Value"] == "value-v1"
    r = param(ext, "/pscache/string", "&version=1")
    assert r.json()["Parameter"]["Value"] == "value-v1" and r.headers["x-pscache-cache"] == "hit"
    assert proxy.count("GetParameter") == 1


def test_longer_ttl_is_opt_in(start_ext):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=3600, PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug")
    assert "SSM_PARAMETER_STORE_TTL=3600 exceeds the maximum of 300s; using 300s" in ext.output()
    ext.stop()
    ext = start_ext(SSM_PARAMETER_STORE_TTL=3600, PSCACHE_MAX_TTL=7200, PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug")
    out = ext.output()
    assert "SSM_PARAMETER_STORE_TTL=3600s" in out and "exceeds" not in out


def test_byte_cap_bounds_the_cache(start_ext, proxy):
    ext = start_ext(PSCACHE_CACHE_MAX_BYTES=2500)  # room for about two small parameters
    for i in range(4):
        param(ext, f"/pscache/lru/{i}")
    stats = ext.get("/pscache/stats").json()
    assert stats["cache"]["bytes"] <= 2500 and stats["cache"]["entries"] < 4
    param(ext, "/pscache/lru/3")
    assert proxy.count("GetParameter") == 4  # the newest stayed
    param(ext, "/pscache/lru/0")
    assert proxy.count("GetParameter") == 5  # the oldest went


def test_caching_off_still_answers_without_coalescing(start_ext, proxy):
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false")
    for _ in range(3):
        r = param(ext, "/pscache/string")
        assert r.status == 200 and r.headers["x-pscache-cache"] == "miss"
    assert proxy.count("GetParameter") == 3
    assert json.loads(ext.get("/pscache/stats").body)["cache"]["miss"] == 3


@pytest.mark.slow
def test_ttl_jitter_expires_values_fetched_together_at_different_times_never_after_the_ttl(start_ext):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=2, PSCACHE_TTL_JITTER_PERCENT=50)
    names = [f"/pscache/lru/{i}" for i in range(6)]
    fetched = {}
    for name in names:
        assert param(ext, name).headers["x-pscache-cache"] == "miss"
        fetched[name] = time.monotonic()
    expired = {}
    while len(expired) < len(names) and time.monotonic() - min(fetched.values()) < 3:
        for name in names:
            if name not in expired and param(ext, name).headers["x-pscache-cache"] == "miss":
                expired[name] = time.monotonic() - fetched[name]
        time.sleep(0.05)
    assert len(expired) == len(names)
    assert all(0.9 <= age <= 2.2 for age in expired.values()), expired  # between half the TTL and the TTL
    assert max(expired.values()) - min(expired.values()) > 0.1, expired  # not all together
