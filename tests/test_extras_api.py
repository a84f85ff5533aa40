"""pscache's endpoints beyond the AWS extension: batch and path reads, cache headers, stats, ping, EMF."""

import json
import signal
from urllib.parse import quote

from locallambda import fault_proxy as faults
from conftest import SECRET_V2

BATCH = "/systemsmanager/parameters/batch"
PATH = "/systemsmanager/parameters/path"
SECRETS = "/secretsmanager/batch"
PARAM = "/systemsmanager/parameters/get"


def names(body: dict) -> list[str]:
    return [p["Name"] for p in body["Parameters"]]


def test_batch_parameters_have_the_get_parameters_shape_and_cache_each_item(start_ext, proxy):
    ext = start_ext()
    r = ext.get(f"{BATCH}?names=/pscache/string,/pscache/list&names=/pscache/nope&names=/pscache/string")
    assert r.status == 200, r
    assert list(json.loads(r.body)) == ["InvalidParameters", "Parameters", "ResultMetadata"]
    body = r.json()
    assert body["InvalidParameters"] == ["/pscache/nope"] and names(body) == ["/pscache/string", "/pscache/list"]
    assert list(body["Parameters"][0]) == ["ARN", "DataType", "LastModifiedDate", "Name", "Selector",
                                           "SourceResult", "Type", "Value", "Version"]
    assert proxy.count("GetParameters") == 1
    # Every item is its own entry: single reads and a repeat batch are hits.
    single = ext.get(f"{PARAM}?name=%2Fpscache%2Flist")
    assert single.headers["x-pscache-cache"] == "hit" and single.json()["Parameter"]["Value"] == "a,b,c"
    again = ext.get(f"{BATCH}?names=/pscache/list,/pscache/string")
    assert again.headers["x-pscache-cache"] == "hit" and names(again.json()) == ["/pscache/list", "/pscache/string"]
    assert proxy.count("GetParameters") == 1 and proxy.count("GetParameter") == 0


def test_batch_of_more_than_ten_names_is_split_and_mixes_hits_and_fetches(start_ext, proxy):
    ext = start_ext()
    ext.get(f"{PARAM}?name=%2Fpscache%2Flru%2F0")
    wanted = [f"/pscache/lru/{i}" for i in range(6)] + ["/pscache/string", "/pscache/list", "/pscache/secure",
                                                        "plain-name"] + [f"/pscache/missing/{i}" for i in range(3)]
    r = ext.get(f"{BATCH}?names={','.join(wanted)}&withDecryption=true")
    body = r.json()
    assert r.headers["x-pscache-cache"] == "miss"
    assert names(body) == wanted[:10] and sorted(body["InvalidParameters"]) == wanted[10:]
    assert body["Parameters"][8]["Value"] == "secure-value"
    # /pscache/lru/0 was cached without decryption: a different entry. 13 names -> two calls of <= 10.
    assert proxy.count("GetParameters") == 2


def test_batch_selectors_and_errors(start_ext, proxy):
    ext = start_ext()
    r = ext.get(f"{BATCH}?names=/pscache/string:1")
    assert r.status == 200 and r.json()["Parameters"][0]["Value"] == "value-v1"
    assert ext.get(f"{PARAM}?name=%2Fpscache%2Fstring&version=1").headers["x-pscache-cache"] == "hit"
    assert ext.get(BATCH).error_code == "MissingParameter"
    many = ",".join(f"/n{i}" for i in range(101))
    r = ext.get(f"{BATCH}?names={many}")
    assert r.status == 400 and r.error_code == "TooManyItems"
    proxy.inject("GetParameters", faults.throttle(), faults.throttle(), faults.throttle())
    r = ext.get(f"{BATCH}?names=/pscache/lru/5")
    assert r.status == 429 and r.error_code == "ThrottlingException"


def test_path_reads_merge_every_page_and_cache_the_items(start_ext, proxy, aws):
    for i in range(12):
        aws["ssm"].put_parameter(Name=f"/pscache/paged/{i}", Value=str(i), Type="String", Overwrite=True)
    ext = start_ext()
    r = ext.get(f"{PATH}?path=/pscache/lru")
    assert r.status == 200
    assert list(json.loads(r.body)) == ["NextToken", "Parameters", "ResultMetadata"]
    assert sorted(names(r.json())) == [f"/pscache/lru/{i}" for i in range(6)]
    flat = ext.get(f"{PATH}?path=/pscache").json()
    deep = ext.get(f"{PATH}?path=/pscache&recursive=true").json()
    assert "/pscache/lru/0" not in names(flat) and "/pscache/lru/0" in names(deep)
    calls = proxy.count("GetParametersByPath")
    # GetParametersByPath pages by 10: more than one call, merged into one answer.
    paged = ext.get(f"{PATH}?path=/pscache/paged").json()
    assert sorted(names(paged)) == sorted(f"/pscache/paged/{i}" for i in range(12)) and paged["NextToken"] is None
    assert proxy.count("GetParametersByPath") >= calls + 2
    calls = proxy.count("GetParametersByPath")
    assert ext.get(f"{PATH}?path=/pscache/lru").headers["x-pscache-cache"] == "hit"
    assert ext.get(f"{PARAM}?name=%2Fpscache%2Flru%2F4").headers["x-pscache-cache"] == "hit"
    assert proxy.count("GetParametersByPath") == calls and proxy.count("GetParameter") == 0
    assert ext.get(f"{PATH}?path=relative").error_code == "InvalidParameterValue"
    # Invalidating one name drops the path answers that hold it.
    assert ext.get("/pscache/invalidate?name=%2Fpscache%2Flru%2F4", method="POST").json()["Invalidated"] >= 2
    assert ext.get(f"{PATH}?path=/pscache/lru").headers["x-pscache-cache"] == "miss"


def test_batch_secrets_have_the_batch_get_secret_value_shape(start_ext, proxy, aws):
    ext = start_ext()
    r = ext.get(f"{SECRETS}?secretIds=pscache/secret,pscache/nothing&secretIds={quote(aws['binary_arn'], safe='')}")
    assert r.status == 200, r
    assert list(json.loads(r.body)) == ["Errors", "NextToken", "SecretValues", "ResultMetadata"]
    body = r.json()
    assert [s["Name"] for s in body["SecretValues"]] == ["pscache/secret", "pscache/binary"]
    assert body["SecretValues"][0]["SecretString"] == SECRET_V2
    assert list(body["SecretValues"][0]) == ["ARN", "CreatedDate", "Name", "SecretBinary", "SecretString",
                                             "VersionId", "VersionStages"]
    assert [e["SecretId"] for e in body["Errors"]] == ["pscache/nothing"]
    assert proxy.count("BatchGetSecretValue") == 1
    hit = ext.get("/secretsmanager/get?secretId=pscache/binary")  # asked by ARN in the batch, now by name
    assert hit.headers["x-pscache-cache"] == "hit" and proxy.count("GetSecretValue") == 0


def test_every_success_says_how_it_was_served(start_ext):
    ext = start_ext()
    first = ext.get(f"{PARAM}?name=%2Fpscache%2Fstring")
    second = ext.get(f"{PARAM}?name=%2Fpscache%2Fstring")
    assert first.headers["x-pscache-cache"] == "miss" and second.headers["x-pscache-cache"] == "hit"
    assert first.headers["x-pscache-age"] == "0" and int(second.headers["x-pscache-age"]) >= 0
    assert "x-pscache-cache" not in ext.get(f"{PARAM}?name=%2Fnope").headers


def test_stats_count_cache_events_and_upstream_calls(start_ext, proxy):
    ext = start_ext()
    for _ in range(3):
        ext.get(f"{PARAM}?name=%2Fpscache%2Fstring")
    ext.get(f"{PARAM}?name=%2Fnope")
    assert ext.get("/pscache/stats", token=None).status == 403
    stats = ext.get("/pscache/stats").json()
    assert stats["cache"]["hit"] == 2 and stats["cache"]["miss"] == 1 and stats["cache"]["entries"] == 1
    calls = stats["upstream"]["GetParameter"]
    assert calls["calls"] == {"ParameterNotFound": 1, "ok": 1}
    assert calls["latencyMs"]["count"] == 2 and 0 < calls["latencyMs"]["p50"] <= calls["latencyMs"]["max"]


def test_ping_needs_no_token_and_gives_no_data(start_ext):
    ext = start_ext(AWS_SESSION_TOKEN=None)  # even with no token configured
    r = ext.get("/ping", token=None)
    assert r.status == 200 and r.body == b"healthy"
    assert ext.get("/ping", method="POST", token=None).status == 405


def test_emf_line_at_exit_when_enabled(start_ext):
    ext = start_ext(PSCACHE_METRICS_EMF="true", AWS_LAMBDA_FUNCTION_NAME="orders")
    ext.get(f"{PARAM}?name=%2Fpscache%2Fstring")
    ext.get(f"{PARAM}?name=%2Fpscache%2Fstring")
    ext.stop(signal.SIGTERM)
    lines = [json.loads(line) for line in ext.output().splitlines() if line.startswith("{")]
    assert len(lines) == 1
    emf = lines[0]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "pscache" and directive["Dimensions"] == [["FunctionName"]]
    assert emf["FunctionName"] == "orders" and emf["CacheHits"] == 1 and emf["CacheMisses"] == 1
    assert emf["UpstreamCalls"] == 1 and emf["UpstreamErrors"] == 0 and emf["UpstreamLatencyP50"] > 0
    assert {m["Name"] for m in directive["Metrics"]} <= set(emf)


def test_no_emf_line_by_default(start_ext):
    ext = start_ext()
    ext.get(f"{PARAM}?name=%2Fpscache%2Fstring")
    ext.stop(signal.SIGTERM)
    assert not [line for line in ext.output().splitlines() if line.startswith("{")]
