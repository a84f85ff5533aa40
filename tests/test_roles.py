"""Cross-account reads by role (roleArn=): the allow-list, STS AssumeRole against moto, a second account's data.

moto (server mode) keeps every account apart and answers AssumeRole of a role in another account with credentials
that moto maps back to that account: a read signed with them sees only that account's parameters and secrets
(moto's multi-account documentation; the role itself need not exist). So the same name holds one value in the
default account (123456789012, pscache's own credentials) and another in ACCOUNT_B.
"""

import asyncio
import json
import time
from urllib.parse import parse_qs, quote

import boto3
import pytest

from conftest import REGION
from locallambda import fault_proxy as faults

ACCOUNT_B = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT_B}:role/pscache-reader"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT_B}:role/someone-else"
PARAM = "/systemsmanager/parameters/get"


def q(value: str) -> str:
    return quote(value, safe="")


@pytest.fixture(scope="module")
def account_b(moto, aws):
    """Clients of ACCOUNT_B (made with credentials from moto's STS), and names that hold a value in both accounts."""
    issued = boto3.client("sts", region_name=REGION, endpoint_url=moto, aws_access_key_id="testing",
                          aws_secret_access_key="testing").assume_role(RoleArn=ROLE, RoleSessionName="seed")
    credentials = issued["Credentials"]

    def client(service):
        return boto3.client(service, region_name=REGION, endpoint_url=moto,
                            aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"])

    ssm_b, sm_b = client("ssm"), client("secretsmanager")
    for i in range(3):
        ssm_b.put_parameter(Name=f"/cross/app/{i}", Value=f"b-{i}", Type="String")
    ssm_b.put_parameter(Name="/cross/only-in-b", Value="b-only", Type="SecureString")
    aws["ssm"].put_parameter(Name="/cross/app/0", Value="a-0", Type="String")
    sm_b.create_secret(Name="cross/db", SecretString=json.dumps({"password": "b-password"}))
    aws["sm"].create_secret(Name="cross/db", SecretString=json.dumps({"password": "a-password"}))
    return {"ssm": ssm_b, "sm": sm_b}


def test_role_arn_is_refused_until_an_operator_allows_that_role(start_ext, proxy, account_b):
    default = start_ext()
    allowed_other = start_ext(PSCACHE_ALLOWED_ROLE_ARNS=OTHER_ROLE)
    reads = [f"{PARAM}?name=%2Fcross%2Fapp%2F0&roleArn={q(ROLE)}",
             f"/systemsmanager/parameters/batch?names=/cross/app/0&roleArn={q(ROLE)}",
             f"/systemsmanager/parameters/path?path=/cross/app&roleArn={q(ROLE)}",
             f"/secretsmanager/get?secretId=cross/db&roleArn={q(ROLE)}",
             f"/secretsmanager/batch?secretIds=cross/db&roleArn={q(ROLE)}"]
    for path in reads:
        r = default.get(path)
        assert r.status == 403 and r.error_code == "RoleNotAllowed", r
        assert ROLE in r.error_message and "PSCACHE_ALLOWED_ROLE_ARNS allows no role" in r.error_message
        r = allowed_other.get(path)
        assert r.status == 403 and r.error_code == "RoleNotAllowed", r
        assert "not listed in PSCACHE_ALLOWED_ROLE_ARNS" in r.error_message
    # Refused before anything is fetched or assumed; the token is still checked first.
    assert sum(proxy.calls.values()) == 0
    assert default.get(reads[0], token="wrong").error_code == "InvalidToken"


def test_reads_as_an_allowed_role_see_the_other_account_and_are_cached_apart(start_ext, proxy, account_b):
    ext = start_ext(PSCACHE_ALLOWED_ROLE_ARNS=f"{OTHER_ROLE}, {ROLE}", AWS_LAMBDA_FUNCTION_NAME="orders")
    as_role = f"&roleArn={q(ROLE)}"
    own = ext.get(f"{PARAM}?name=%2Fcross%2Fapp%2F0")
    theirs = ext.get(f"{PARAM}?name=%2Fcross%2Fapp%2F0{as_role}")
    assert own.json()["Parameter"]["Value"] == "a-0" and theirs.json()["Parameter"]["Value"] == "b-0"
    assert theirs.json()["Parameter"]["ARN"].split(":")[4] == ACCOUNT_B
    assert ext.get(f"{PARAM}?name=%2Fcross%2Fonly-in-b").error_code == "ParameterNotFound"
    only = ext.get(f"{PARAM}?name=%2Fcross%2Fonly-in-b&withDecryption=true{as_role}")
    assert only.status == 200 and only.json()["Parameter"]["Value"] == "b-only"
    secret = ext.get(f"/secretsmanager/get?secretId=cross%2Fdb{as_role}")
    assert json.loads(secret.json()["SecretString"]) == {"password": "b-password"}
    assert json.loads(ext.get("/secretsmanager/get?secretId=cross%2Fdb").json()["SecretString"]) == \
        {"password": "a-password"}
    # Each key is cached under its role: repeats are hits, and the two accounts' values never mix.
    for path, value in ((f"{PARAM}?name=%2Fcross%2Fapp%2F0{as_role}", "b-0"), (f"{PARAM}?name=%2Fcross%2Fapp%2F0", "a-0")):
        again = ext.get(path)
        assert again.headers["x-pscache-cache"] == "hit" and again.json()["Parameter"]["Value"] == value
    # Batch and path reads by role: their items are cached under the role too.
    path = ext.get(f"/systemsmanager/parameters/path?path=/cross/app{as_role}").json()
    assert sorted(p["Value"] for p in path["Parameters"]) == ["b-0", "b-1", "b-2"]
    batch = ext.get(f"/systemsmanager/parameters/batch?names=/cross/app/1,/cross/app/2{as_role}")
    assert batch.headers["x-pscache-cache"] == "hit" and [p["Value"] for p in batch.json()["Parameters"]] == \
        ["b-1", "b-2"]
    secrets = ext.get(f"/secretsmanager/batch?secretIds=cross/db{as_role}")
    assert secrets.headers["x-pscache-cache"] == "hit" and "b-password" in secrets.json()["SecretValues"][0][
        "SecretString"]
    # One AssumeRole for all of it, as pscache's own session, and one client per service and role.
    assert proxy.count("AssumeRole") == 1
    sent = parse_qs(proxy.last_body["AssumeRole"].decode())
    assert sent["RoleArn"] == [ROLE] and sent["RoleSessionName"] == ["pscache-orders"] and "ExternalId" not in sent
    stats = ext.get("/pscache/stats").json()
    assert f"ssm as {ROLE}" in stats["clients"] and f"secretsmanager as {ROLE}" in stats["clients"]
    assert stats["upstream"]["AssumeRole"]["calls"] == {"ok": 1}


def test_the_external_id_is_sent_when_configured(start_ext, proxy, account_b):
    ext = start_ext(PSCACHE_ALLOWED_ROLE_ARNS=ROLE, PSCACHE_ROLE_EXTERNAL_ID="partner-7f3a")
    assert ext.get(f"{PARAM}?name=%2Fcross%2Fapp%2F1&roleArn={q(ROLE)}").status == 200
    assert parse_qs(proxy.last_body["AssumeRole"].decode())["ExternalId"] == ["partner-7f3a"]
    assert "partner-7f3a" not in ext.output()


@pytest.mark.parametrize("fault,status,code", [
    (faults.error(403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole"), 403, "AccessDenied"),
    (faults.error(403, "RegionDisabledException", "STS is not activated in this region"), 403,
     "RegionDisabledException"),
    (faults.error(400, "Throttling", "Rate exceeded"), 429, "Throttling"),
    (faults.error(400, "ValidationError", "1 validation error detected"), 502, "ValidationError"),
    (faults.reset(), 502, "UpstreamUnavailable"),
])
def test_sts_failures_map_to_clear_statuses_and_are_never_cached(start_ext, proxy, account_b, fault, status, code):
    ext = start_ext(PSCACHE_ALLOWED_ROLE_ARNS=ROLE, PSCACHE_NEGATIVE_TTL=60)
    path = f"{PARAM}?name=%2Fcross%2Fapp%2F2&roleArn={q(ROLE)}"
    proxy.always("AssumeRole", fault)
    r = ext.get(path)
    assert r.status == status and r.error_code == code, r
    assert r.error_message.startswith(f"AssumeRole of {ROLE} failed")
    assert "x-pscache-negative" not in r.headers
    assert proxy.count("GetParameter") == 0  # nothing was read with credentials pscache does not have
    assert f"AssumeRole request of {ROLE} failed" in ext.output()
    proxy.always("AssumeRole", None)
    again = ext.get(path)
    assert again.status == 200 and again.json()["Parameter"]["Value"] == "b-2"


def test_role_credentials_are_kept_until_shortly_before_they_expire(proxy, account_b, monkeypatch):
    """The credentials' own clock moved forward: renewed inside the last REFRESH_MARGIN_S, kept when a renewal
    fails while they are still valid for a while, and a failure with nothing valid left is the reader's answer."""
    from app import config, roles
    from app.errors import ApiError
    from app.stats import Stats
    from app.upstream import Upstream

    for name, value in {"AWS_REGION": REGION, "AWS_ENDPOINT_URL": proxy.url, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": "/nonexistent",
                        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    settings = config.load({"AWS_ENDPOINT_URL": proxy.url, "PSCACHE_ALLOWED_ROLE_ARNS": ROLE}, argv0="pscache")
    upstream = Upstream(settings, Stats())
    upstream._session_name = roles.session_name("unit")
    offset = [0.0]
    credentials = roles.RoleCredentials(ROLE, upstream._assume, clock=lambda: time.time() + offset[0])

    async def scenario():
        first = await credentials.get_frozen_credentials()
        assert await credentials.get_frozen_credentials() is first and proxy.count("AssumeRole") == 1
        left = credentials._expires - time.time()
        assert 900 <= left <= 43200  # an STS session, as moto issues it
        offset[0] = left - roles.REFRESH_MARGIN_S - 5  # still outside the margin: kept
        assert await credentials.get_frozen_credentials() is first and proxy.count("AssumeRole") == 1
        offset[0] = left - roles.REFRESH_MARGIN_S + 5  # inside it: renewed once
        renewed = await credentials.get_frozen_credentials()
        assert renewed != first and proxy.count("AssumeRole") == 2
        # STS fails while the current ones are still good for minutes: they are used, and STS is not asked again
        # on every read.
        proxy.always("AssumeRole", faults.error(400, "Throttling", "Rate exceeded"))
        left = credentials._expires - time.time()
        offset[0] = left - roles.REFRESH_MARGIN_S + 5
        calls = proxy.count("AssumeRole")
        assert await credentials.get_frozen_credentials() is renewed
        assert await credentials.get_frozen_credentials() is renewed
        assert proxy.count("AssumeRole") == calls + 3  # one renewal attempt (its three tries), then a pause
        offset[0] = left - roles.STILL_VALID_S + 5  # too close to expiry to sign with: the failure is the answer
        with pytest.raises(ApiError) as info:
            await credentials.get_frozen_credentials()
        assert info.value.status == 429 and info.value.code == "Throttling"
        await upstream._stack.aclose()

    asyncio.run(scenario())


def test_role_reads_need_nothing_at_start_up():
    """Without a roleArn read, neither the role module nor STS is loaded: start-up does no more work than before."""
    import subprocess
    import sys

    from harness import ROOT

    code = ("import sys, app.main, app.server, app.loader, app.upstream, app.wire, app.reads; "
            "print(sorted(m for m in ('app.roles', 'app.json_pointer') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"], out.stdout


def test_the_allow_list_takes_exact_role_arns(start_ext):
    ext = start_ext(wait=False, PSCACHE_ALLOWED_ROLE_ARNS=f"{ROLE} arn:aws:iam::*:role/any")
    assert ext.wait() == 1
    assert "PSCACHE_ALLOWED_ROLE_ARNS has invalid role ARN(s) 'arn:aws:iam::*:role/any'" in ext.output()


def test_prefetch_items_may_name_an_allowed_role(start_ext, proxy, account_b):
    prefetch = f"ssm:/cross/app/1?roleArn={q(ROLE)} ssm-path:/cross/app?roleArn={q(OTHER_ROLE)}"
    ext = start_ext(PSCACHE_ALLOWED_ROLE_ARNS=ROLE, PSCACHE_PREFETCH=prefetch)
    deadline = time.monotonic() + 10
    while "prefetched" not in ext.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    r = ext.get(f"{PARAM}?name=%2Fcross%2Fapp%2F1&roleArn={q(ROLE)}")
    assert r.headers["x-pscache-cache"] == "hit" and r.json()["Parameter"]["Value"] == "b-1"
    out = ext.output()
    assert "PSCACHE_PREFETCH: skipping ssm-path:/cross/app" in out and "not listed in PSCACHE_ALLOWED_ROLE_ARNS" in out
    assert proxy.count("GetParametersByPath") == 0 and proxy.count("AssumeRole") == 1


def test_sts_is_never_called_through_pscache_itself(start_ext, proxy, account_b):
    """AWS_ENDPOINT_URL naming pscache (for the function's SDK) is not STS's endpoint: without AWS_ENDPOINT_URL_STS,
    STS is AWS's own (unreachable here, so the read's deadline answers), never pscache's wire front."""
    from harness import free_port

    port = free_port()
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=port, AWS_ENDPOINT_URL=f"http://localhost:{port}",
                    AWS_ENDPOINT_URL_SSM=proxy.url, AWS_ENDPOINT_URL_SECRETS_MANAGER=proxy.url,
                    PSCACHE_ALLOWED_ROLE_ARNS=ROLE, SSM_PARAMETER_STORE_TIMEOUT_MILLIS=2000)
    assert ext.get(f"{PARAM}?name=%2Fcross%2Fapp%2F0").json()["Parameter"]["Value"] == "a-0"
    r = ext.get(f"{PARAM}?name=%2Fcross%2Fapp%2F0&roleArn={q(ROLE)}")
    # Through pscache's own port STS would get a wire-protocol refusal botocore cannot parse (InternalFailure).
    assert r.status in (403, 502, 504) and r.error_code != "InternalFailure" and "ResponseParser" not in r.text, r
    assert proxy.count("AssumeRole") == 0
    with_sts = start_ext(AWS_ENDPOINT_URL_STS=proxy.url, PSCACHE_ALLOWED_ROLE_ARNS=ROLE)
    assert with_sts.get(f"{PARAM}?name=%2Fcross%2Fapp%2F0&roleArn={q(ROLE)}").json()["Parameter"]["Value"] == "b-0"
    assert proxy.count("AssumeRole") == 1
