"""Negative caching (PSCACHE_NEGATIVE_TTL): a missing or denied item answered from the cache, as AWS answered it,
until it expires or is dropped; counted at the local AWS."""

import time
import uuid
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION
from harness import TOKEN
from locallambda import fault_proxy as faults

PARAM = "/systemsmanager/parameters/get"
SECRET = "/secretsmanager/get"


def missing(prefix="/pscache/negative/") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def param(ext, name, extra=""):
    return ext.get(f"{PARAM}?name={quote(name, safe='')}{extra}")


def test_errors_are_not_cached_by_default(start_ext, proxy):
    ext = start_ext()
    name = missing()
    for _ in range(2):
        r = param(ext, name)
        assert r.status == 404 and "x-pscache-negative" not in r.headers and "x-pscache-cache" not in r.headers
    assert proxy.count("GetParameter") == 2


def test_not_found_is_answered_from_the_cache_as_aws_answered_it(start_ext, proxy, aws):
    ext = start_ext(PSCACHE_NEGATIVE_TTL=2)
    name, secret = missing(), missing("pscache/negative-")
    aws["ssm"].put_parameter(Name=f"{name}-v", Value="v1", Type="String")
    reads = [(f"{PARAM}?name={quote(name, safe='')}", "ParameterNotFound", "GetParameter"),
             (f"{PARAM}?name={quote(name, safe='')}-v:9", "ParameterVersionNotFound", "GetParameter"),
             (f"{SECRET}?secretId={quote(secret, safe='')}", "ResourceNotFoundException", "GetSecretValue")]
    for path, code, api in reads:
        first = ext.get(path)
        assert first.status == 404 and first.error_code == code and "x-pscache-negative" not in first.headers
        calls = proxy.count(api)
        for accept in (None, "application/json"):
            again = ext.get(path, headers={"Accept": accept} if accept else None)
            assert (again.status, again.error_code) == (404, code)
            assert again.headers["x-pscache-cache"] == "hit" and again.headers["x-pscache-negative"] == "true"
            assert int(again.headers["x-pscache-age"]) >= 0
            if accept:
                assert again.json() == {"__type": code, "message": first.error_message}
            else:
                assert again.body == first.body
        assert proxy.count(api) == calls
    stats = ext.get("/pscache/stats").json()["cache"]
    assert stats["negative"] == 6 and stats["hit"] == 6 and stats["miss"] == 0 and stats["entries"] == 3
    # Kept for PSCACHE_NEGATIVE_TTL only: then AWS is asked again, and a value that exists by now is served.
    aws["ssm"].put_parameter(Name=name, Value="arrived", Type="String")
    time.sleep(2.1)
    r = param(ext, name)
    assert r.status == 200 and r.json()["Parameter"]["Value"] == "arrived" and r.headers["x-pscache-cache"] == "miss"


def test_refresh_now_and_invalidation_drop_a_negative_entry(start_ext, proxy, aws):
    ext = start_ext(PSCACHE_NEGATIVE_TTL=300)
    name, other = missing(), missing()
    assert param(ext, name).status == 404 and param(ext, name).headers["x-pscache-negative"] == "true"
    aws["ssm"].put_parameter(Name=name, Value="now-there", Type="String")
    assert param(ext, name).status == 404  # still the cached answer: AWS is not asked
    r = param(ext, name, "&refreshNow=true")
    assert r.status == 200 and r.json()["Parameter"]["Value"] == "now-there"
    # Read by ARN, invalidated by name: the negative entry answers for both.
    arn = f"arn:aws:ssm:{REGION}:123456789012:parameter{other}"
    assert param(ext, arn).error_code == "ParameterNotFound"
    assert param(ext, arn).headers["x-pscache-negative"] == "true"
    assert ext.get(f"/pscache/invalidate?name={quote(other, safe='')}", method="POST").json() == {"Invalidated": 1}
    calls = proxy.count("GetParameter")
    assert param(ext, arn).status == 404 and proxy.count("GetParameter") == calls + 1


def test_a_write_through_the_wire_front_drops_it_and_the_wire_front_answers_it_in_its_shape(start_ext, proxy):
    ext = start_ext(PSCACHE_NEGATIVE_TTL=300)
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=f"http://localhost:{ext.port}",
                       aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token=TOKEN,
                       config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    name = missing()
    answers = []
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            ssm.get_parameter(Name=name)
        answers.append(info.value.response)
    assert [a["Error"]["Code"] for a in answers] == ["ParameterNotFound"] * 2
    assert answers[0]["Error"]["Message"] == answers[1]["Error"]["Message"]
    assert answers[1]["ResponseMetadata"]["HTTPStatusCode"] == 400
    headers = answers[1]["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-pscache-negative"] == "true" and headers["x-pscache-cache"] == "hit"
    assert proxy.count("GetParameter") == 1
    # The 2773 API shares the entry.
    assert param(ext, name).headers["x-pscache-negative"] == "true"
    ssm.put_parameter(Name=name, Value="written", Type="String")
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "written"
    assert param(ext, name).json()["Parameter"]["Value"] == "written"


def test_denials_are_cached_but_credential_and_transient_failures_are_not(start_ext, proxy):
    ext = start_ext(PSCACHE_NEGATIVE_TTL=300)
    cached = [faults.error(400, "AccessDeniedException", "not authorized to perform ssm:GetParameter"),
              faults.error(400, "KMSAccessDeniedException", "no kms:Decrypt")]
    for fault in cached:
        name = missing()
        proxy.inject("GetParameter", fault)
        first = param(ext, name, "&withDecryption=true")
        again = param(ext, name, "&withDecryption=true")
        assert first.status == again.status == 403 and first.error_code == again.error_code == fault.code
        assert again.headers["x-pscache-negative"] == "true"
    for fault in (faults.expired(), faults.error(400, "UnrecognizedClientException", "bad token"),
                  faults.throttle(), faults.error(500, "InternalServerError")):
        name = missing()
        proxy.always("GetParameter", fault)
        first = param(ext, name)
        assert first.status in (403, 429, 502) and "x-pscache-negative" not in first.headers
        proxy.always("GetParameter", None)
        again = param(ext, name)
        assert again.status == 404 and "x-pscache-negative" not in again.headers, fault


def test_batch_reads_report_missing_items_their_own_way(start_ext, proxy):
    ext = start_ext(PSCACHE_NEGATIVE_TTL=300)
    name = missing()
    assert param(ext, name).status == 404
    batch = ext.get(f"/systemsmanager/parameters/batch?names={name},/pscache/string")
    assert batch.status == 200 and batch.json()["InvalidParameters"] == [name]
    assert proxy.count("GetParameters") == 1
    assert param(ext, name).headers["x-pscache-negative"] == "true"  # still there for single reads
