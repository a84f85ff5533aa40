"""The wire front (POST /, the services' JSON 1.1 protocol) end to end with boto3: a real pscache process, moto
behind the fault proxy, boto3 clients whose endpoint is pscache."""

import base64
import datetime
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BINARY, REGION, SECRET_V1, SECRET_V2
from harness import TOKEN
from locallambda.fault_proxy import delay, throttle

JSON11 = "application/x-amz-json-1.1"


def client(ext, service, attempts=1, **overrides):
    """A boto3 client whose endpoint is pscache, signed with the credentials pscache holds (the test's base_env)."""
    options = dict(region_name=REGION, endpoint_url=f"http://localhost:{ext.port}", aws_access_key_id="testing",
                   aws_secret_access_key="testing", aws_session_token=TOKEN,
                   config=Config(retries={"mode": "standard", "total_max_attempts": attempts}))
    options.update(overrides)
    return boto3.client(service, **options)


def post(port, target, document, headers=None, content_type=JSON11):
    """A raw POST / (no signature unless headers carry one)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = json.dumps(document).encode() if not isinstance(document, bytes) else document
        all_headers = {"Content-Type": content_type, **({"X-Amz-Target": target} if target else {}), **(headers or {})}
        conn.request("POST", "/", body=body, headers=all_headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def signed_headers(port, target, body, when, service="ssm", region=REGION, key="testing", secret="testing"):
    """SigV4 headers for a request signed at `when` (botocore's signer, with the timestamp chosen by the test)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers={
        "Content-Type": JSON11, "X-Amz-Target": target, "X-Amz-Date": amz_date, "X-Amz-Security-Token": TOKEN,
        "Host": f"127.0.0.1:{port}"})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key, secret, TOKEN), service, region)
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    names = signer.signed_headers(signer.headers_to_sign(request))
    return {"X-Amz-Date": amz_date, "X-Amz-Security-Token": TOKEN, "Authorization":
            f"AWS4-HMAC-SHA256 Credential={key}/{amz_date[:8]}/{region}/{service}/aws4_request, "
            f"SignedHeaders={names}, Signature={signature}"}


def error_of(call):
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response


@pytest.fixture(scope="module")
def ext(shared_ext):
    return shared_ext


# -- cached reads ---------------------------------------------------------------------------------------------

def test_parameters_read_as_from_aws(ext, aws):
    ssm = client(ext, "ssm")
    p = ssm.get_parameter(Name="/pscache/string")["Parameter"]
    assert (p["Name"], p["Value"], p["Version"], p["Type"], p["DataType"]) == ("/pscache/string", "value-v2", 2,
                                                                              "String", "text")
    assert isinstance(p["LastModifiedDate"], datetime.datetime) and p["ARN"].endswith(":parameter/pscache/string")
    assert "Selector" not in p and "SourceResult" not in p  # absent fields are absent, as on AWS's wire
    assert ssm.get_parameter(Name="/pscache/string:1")["Parameter"]["Value"] == "value-v1"
    assert ssm.get_parameter(Name="/pscache/string:stable")["Parameter"]["Value"] == "value-v1"
    assert ssm.get_parameter(Name="/pscache/secure", WithDecryption=True)["Parameter"]["Value"] == "secure-value"
    assert ssm.get_parameter(Name="/pscache/secure")["Parameter"]["Value"] != "secure-value"
    arn = aws["ssm"].get_parameter(Name="plain-name")["Parameter"]["ARN"]
    assert ssm.get_parameter(Name=arn)["Parameter"]["Value"] == "no-slash"


def test_get_parameters_keeps_order_and_reports_invalid_names(ext):
    out = client(ext, "ssm").get_parameters(Names=["/pscache/list", "/pscache/wire/none", "/pscache/string:1"])
    assert [p["Value"] for p in out["Parameters"]] == ["a,b,c", "value-v1"]
    assert out["InvalidParameters"] == ["/pscache/wire/none"]


def test_get_parameters_by_path_merges_pages_and_paginator_stops(ext):
    ssm = client(ext, "ssm")
    out = ssm.get_parameters_by_path(Path="/pscache/lru")
    assert sorted(p["Value"] for p in out["Parameters"]) == [f"lru-{i}" for i in range(6)] and "NextToken" not in out
    pages = list(ssm.get_paginator("get_parameters_by_path").paginate(Path="/pscache/lru"))
    assert len(pages) == 1


def test_secrets_read_as_from_aws(ext, aws):
    sm = client(ext, "secretsmanager")
    s = sm.get_secret_value(SecretId="pscache/secret")
    assert (s["ARN"], s["Name"], s["SecretString"], s["VersionId"], s["VersionStages"]) == (
        aws["secret_arn"], "pscache/secret", SECRET_V2, aws["secret_v2"], ["AWSCURRENT"])
    assert isinstance(s["CreatedDate"], datetime.datetime) and "SecretBinary" not in s
    assert sm.get_secret_value(SecretId=aws["secret_arn"], VersionStage="AWSPREVIOUS")["SecretString"] == SECRET_V1
    assert sm.get_secret_value(SecretId="pscache/secret", VersionId=aws["secret_v1"])["SecretString"] == SECRET_V1
    assert sm.get_secret_value(SecretId="pscache/binary")["SecretBinary"] == BINARY  # base64 on the wire
    batch = sm.batch_get_secret_value(SecretIdList=["pscache/secret", "pscache/wire/none"])
    assert [v["SecretString"] for v in batch["SecretValues"]] == [SECRET_V2]
    assert [e["SecretId"] for e in batch["Errors"]] == ["pscache/wire/none"]


def test_both_fronts_share_one_cache_entry(start_ext, proxy):
    ext = start_ext()
    assert ext.get(f"/systemsmanager/parameters/get?name={quote('/pscache/lru/1', safe='')}").status == 200
    ssm = client(ext, "ssm")
    out = ssm.get_parameter(Name="/pscache/lru/1")
    assert out["Parameter"]["Value"] == "lru-1"
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-pscache-cache"] == "hit"
    sm = client(ext, "secretsmanager")
    for _ in range(3):
        assert sm.get_secret_value(SecretId="pscache/secret")["SecretString"] == SECRET_V2
    assert ext.get(f"/secretsmanager/get?secretId={quote('pscache/secret', safe='')}").headers["x-pscache-cache"] == "hit"
    assert proxy.count("GetParameter") == 1 and proxy.count("GetSecretValue") == 1
    assert ext.get("/pscache/stats").json()["cache"]["hit"] >= 3


def test_missing_names_raise_the_sdks_own_exceptions(ext):
    ssm, sm = client(ext, "ssm"), client(ext, "secretsmanager")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/pscache/wire/missing")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.get_secret_value(SecretId="pscache/wire/missing")
    with pytest.raises(ssm.exceptions.ParameterVersionNotFound):
        ssm.get_parameter(Name="/pscache/string:99")
    status, headers, body = post(ext.port, "AmazonSSM.GetParameter", {"Name": "/pscache/wire/missing"},
                                 {"X-Aws-Parameters-Secrets-Token": TOKEN})
    assert status == 400 and body["__type"] == "ParameterNotFound" and headers["x-amzn-errortype"] == "ParameterNotFound"
    assert headers["content-type"] == JSON11


# -- pass-through and invalidation ----------------------------------------------------------------------------

def test_concurrent_reads_from_both_fronts_make_one_call(start_ext, proxy):
    from concurrent.futures import ThreadPoolExecutor

    ext = start_ext()
    ssm = client(ext, "ssm")
    ssm.describe_parameters(MaxResults=1)  # the SDK and both clients are ready: only the read is timed
    proxy.inject("GetParameter", delay(0.5))
    with ThreadPoolExecutor(6) as pool:
        wire = [pool.submit(lambda: client(ext, "ssm").get_parameter(Name="/pscache/lru/5")) for _ in range(5)]
        api = pool.submit(ext.get, f"/systemsmanager/parameters/get?name={quote('/pscache/lru/5', safe='')}")
        values = [f.result()["Parameter"]["Value"] for f in wire] + [api.result().json()["Parameter"]["Value"]]
    assert values == ["lru-5"] * 6 and proxy.count("GetParameter") == 1


def test_a_write_passes_through_and_the_next_read_is_fresh(start_ext, proxy, aws):
    aws["ssm"].put_parameter(Name="/pscache/wire/written", Value="before", Type="String")
    aws["sm"].create_secret(Name="pscache/wire/written", SecretString="before-secret-value")
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="DEBUG")
    ssm, sm = client(ext, "ssm"), client(ext, "secretsmanager")
    assert ssm.get_parameter(Name="/pscache/wire/written")["Parameter"]["Value"] == "before"
    assert ext.get("/systemsmanager/parameters/batch?names=/pscache/wire/written").status == 200  # cached too
    put = ssm.put_parameter(Name="/pscache/wire/written", Value="after", Type="String", Overwrite=True)
    assert put["Version"] == 2 and proxy.count("PutParameter") == 1
    assert ssm.get_parameter(Name="/pscache/wire/written")["Parameter"]["Value"] == "after"
    assert ext.get("/systemsmanager/parameters/batch?names=/pscache/wire/written").json()["Parameters"][0]["Value"] == "after"
    assert sm.get_secret_value(SecretId="pscache/wire/written")["SecretString"] == "before-secret-value"
    sm.put_secret_value(SecretId="pscache/wire/written", SecretBinary=b"\x00after-secret")  # base64 both ways
    assert sm.get_secret_value(SecretId="pscache/wire/written")["SecretBinary"] == b"\x00after-secret"
    assert proxy.count("GetParameter") == 2 and proxy.count("GetSecretValue") == 2
    log = ext.output()
    assert "dropped" in log  # DEBUG says what a write invalidated, by name only
    for never in ("before-secret-value", "after-secret", base64.b64encode(b"\x00after-secret").decode(), TOKEN,
                  "Signature="):
        assert never not in log


def test_other_operations_and_their_errors_pass_through_as_aws_sent_them(ext, aws):
    ssm, sm = client(ext, "ssm"), client(ext, "secretsmanager")
    described = sm.describe_secret(SecretId="pscache/secret")
    assert described["ARN"] == aws["secret_arn"] and isinstance(described["CreatedDate"], datetime.datetime)
    assert "pscache/secret" in [s["Name"] for s in sm.list_secrets()["SecretList"]]
    assert ssm.describe_parameters()["Parameters"]
    with pytest.raises(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(Name="/pscache/string", Value="x", Type="String")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId="pscache/wire/nothing-here")


@pytest.mark.parametrize("target, content_type", [
    ("DynamoDB_20120810.GetItem", JSON11),
    ("AmazonSSM.NoSuchOperation", JSON11),
    ("secretsmanager.GetSecretValue", "application/x-www-form-urlencoded"),
    (None, JSON11),
])
def test_anything_else_is_an_unknown_operation_and_is_never_forwarded(ext, proxy, target, content_type):
    status, headers, body = post(ext.port, target, {"SecretId": "pscache/secret"},
                                 {"X-Aws-Parameters-Secrets-Token": TOKEN}, content_type)
    assert status == 400 and body["__type"] == "UnknownOperationException"
    assert headers["x-amzn-errortype"] == "UnknownOperationException"
    assert sum(proxy.calls.values()) == 0


def test_bad_bodies_are_the_services_errors(ext):
    token = {"X-Aws-Parameters-Secrets-Token": TOKEN}
    status, _, body = post(ext.port, "AmazonSSM.GetParameter", b"{not json", token)
    assert status == 400 and body["__type"] == "SerializationException"
    status, _, body = post(ext.port, "AmazonSSM.GetParameter", {"Name": 3}, token)
    assert status == 400 and body["__type"] == "ValidationException"
    status, _, body = post(ext.port, "secretsmanager.GetSecretValue", {}, token)
    assert status == 400 and body["__type"] == "ValidationException" and "Message" in body
    status, _, body = post(ext.port, "AmazonSSM.GetParameter", b"{" + b" " * (2 << 20) + b"}", token)
    assert status == 413
    assert ext.get("/").status == 404  # the 2773 API is untouched: only POST / is the wire front


# -- authentication -------------------------------------------------------------------------------------------

def test_foreign_signatures_are_refused_and_nothing_is_fetched(ext, proxy):
    now = datetime.datetime.now(datetime.timezone.utc)
    cases = {
        "wrong secret": client(ext, "ssm", aws_secret_access_key="not-the-secret"),
        "foreign key": client(ext, "ssm", aws_access_key_id="AKIAFOREIGN"),
        "other session": client(ext, "ssm", aws_session_token="another-token"),
        "other region": client(ext, "ssm", region_name="eu-west-1"),
    }
    codes = {name: error_of(lambda c=c: c.get_parameter(Name="/pscache/string"))["Error"]["Code"]
             for name, c in cases.items()}
    assert codes == {"wrong secret": "InvalidSignatureException", "foreign key": "UnrecognizedClientException",
                     "other session": "UnrecognizedClientException", "other region": "InvalidSignatureException"}
    body = json.dumps({"Name": "/pscache/string"}).encode()
    for when, service in [(now - datetime.timedelta(minutes=6), "ssm"), (now + datetime.timedelta(minutes=6), "ssm"),
                          (now, "secretsmanager")]:
        status, headers, answer = post(ext.port, "AmazonSSM.GetParameter", body,
                                       signed_headers(ext.port, "AmazonSSM.GetParameter", body, when, service))
        assert status == 400 and answer["__type"] == "InvalidSignatureException", answer
    status, _, answer = post(ext.port, "AmazonSSM.GetParameter", body)
    assert status == 400 and answer["__type"] == "MissingAuthenticationTokenException"
    status, _, answer = post(ext.port, "AmazonSSM.GetParameter", body, {"X-Aws-Parameters-Secrets-Token": "wrong"})
    assert status == 400 and answer["__type"] == "UnrecognizedClientException"
    assert sum(proxy.calls.values()) == 0
    # Within the clock-skew window, a signature made by hand verifies as the SDK's does.
    skewed = now - datetime.timedelta(minutes=4)
    status, _, answer = post(ext.port, "AmazonSSM.GetParameter", body,
                             signed_headers(ext.port, "AmazonSSM.GetParameter", body, skewed))
    assert status == 200 and answer["Parameter"]["Value"] == "value-v2"
    assert "not-the-secret" not in ext.output() and "Signature=" not in ext.output()


def test_a_tampered_body_breaks_the_signature(ext):
    body = json.dumps({"Name": "/pscache/string"}).encode()
    headers = signed_headers(ext.port, "AmazonSSM.GetParameter", body, datetime.datetime.now(datetime.timezone.utc))
    status, _, answer = post(ext.port, "AmazonSSM.GetParameter", json.dumps({"Name": "/pscache/list"}).encode(),
                             headers)
    assert status == 400 and answer["__type"] == "InvalidSignatureException"


class CredentialServer:
    """A container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) whose credentials the test rotates."""

    def __init__(self):
        self.credentials = ("AKIAFIRST", "first-secret", "first-token")
        self.served = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                key, secret, token = outer.credentials
                outer.served += 1
                expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6)
                body = json.dumps({"AccessKeyId": key, "SecretAccessKey": secret, "Token": token,
                                   "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/credentials"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_credentials_the_function_refreshed_first_are_re_read_once(start_ext):
    creds = CredentialServer()
    try:
        ext = start_ext(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None,
                        AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.url, AWS_CONTAINER_AUTHORIZATION_TOKEN="container")

        def ssm_with(key, secret, token):
            return client(ext, "ssm", aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token)

        assert ssm_with(*creds.credentials).get_parameter(Name="/pscache/string")["Parameter"]["Value"] == "value-v2"
        creds.credentials = ("AKIASECOND", "second-secret", "second-token")  # the function got these first
        assert ssm_with(*creds.credentials).get_parameter(Name="/pscache/string")["Parameter"]["Value"] == "value-v2"
        served = creds.served
        foreign = ssm_with("AKIAFOREIGN", "x", "y")
        assert error_of(lambda: foreign.get_parameter(Name="/pscache/string"))["Error"]["Code"] == \
            "UnrecognizedClientException"
        assert creds.served <= served + 1  # one re-read at most, then refused
    finally:
        creds.close()


def test_an_endpoint_variable_naming_pscache_is_not_followed_by_pscache_itself(start_ext, free_port_pair, proxy):
    port = free_port_pair
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=port, AWS_ENDPOINT_URL_SSM=f"http://localhost:{port}",
                    AWS_ENDPOINT_URL_SECRETS_MANAGER=f"http://127.0.0.1:{port}/")
    assert client(ext, "ssm").get_parameter(Name="/pscache/string")["Parameter"]["Value"] == "value-v2"
    assert client(ext, "secretsmanager").get_secret_value(SecretId="pscache/secret")["SecretString"] == SECRET_V2
    assert proxy.count("GetParameter") == 1 and proxy.count("GetSecretValue") == 1
    assert "AWS_ENDPOINT_URL_SSM points at pscache" in ext.output()


@pytest.fixture
def free_port_pair():
    from harness import free_port

    return free_port()


# -- throttling -----------------------------------------------------------------------------------------------

def test_throttling_surfaces_as_the_sdks_throttling_error(start_ext, proxy):
    ext = start_ext()
    proxy.always("GetParameter", throttle())
    response = error_of(lambda: client(ext, "ssm").get_parameter(Name="/pscache/lru/2"))
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_stale_value_is_served_while_aws_throttles(start_ext, proxy):
    import time

    ext = start_ext(SSM_PARAMETER_STORE_TTL=1, PSCACHE_STALE_IF_ERROR=60)
    ssm = client(ext, "ssm")
    assert ssm.get_parameter(Name="/pscache/lru/3")["Parameter"]["Value"] == "lru-3"
    time.sleep(1.2)
    proxy.always("GetParameter", throttle())
    out = ssm.get_parameter(Name="/pscache/lru/3")
    assert out["Parameter"]["Value"] == "lru-3"
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-pscache-cache"] == "stale"
