"""The HTTP API end to end: a real pscache process, a real local AWS (moto server) behind the fault proxy."""

import json
import re
import socket
from urllib.parse import quote

import pytest

from conftest import BINARY, SECRET_V1, SECRET_V2
from harness import TOKEN, http_get
from locallambda.net import kept_alive_requests

PARAM = "/systemsmanager/parameters/get"
SECRET = "/secretsmanager/get"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")


def q(value: str) -> str:
    return quote(value, safe="")


# -- parameters --------------------------------------------------------------

def test_string_parameter_shape_and_key_order(shared_ext):
    r = shared_ext.get(f"{PARAM}?name={q('/pscache/string')}")
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert list(doc) == ["Parameter", "ResultMetadata"] and doc["ResultMetadata"] == {}
    p = doc["Parameter"]
    assert list(p) == ["ARN", "DataType", "LastModifiedDate", "Name", "Selector", "SourceResult", "Type", "Value", "Version"]
    assert p["Name"] == "/pscache/string" and p["Value"] == "value-v2" and p["Version"] == 2
    assert p["Type"] == "String" and p["DataType"] == "text" and p["SourceResult"] is None
    assert p["ARN"].startswith("arn:aws:ssm:us-east-1:") and p["ARN"].endswith(":parameter/pscache/string")
    assert RFC3339.match(p["LastModifiedDate"])


def test_trailing_slash_answers_directly(shared_ext):
    r = shared_ext.get(f"{PARAM}/?name={q('/pscache/list')}")
    assert r.status == 200 and r.json()["Parameter"]["Value"] == "a,b,c"
    assert r.json()["Parameter"]["Type"] == "StringList"


def test_unencoded_name_and_name_without_slash(shared_ext):
    assert shared_ext.get(f"{PARAM}?name=/pscache/string").json()["Parameter"]["Value"] == "value-v2"
    assert shared_ext.get(f"{PARAM}?name=plain-name").json()["Parameter"]["Value"] == "no-slash"


def test_version_label_and_inline_selector(shared_ext):
    assert shared_ext.get(f"{PARAM}?name={q('/pscache/string')}&version=1").json()["Parameter"]["Value"] == "value-v1"
    assert shared_ext.get(f"{PARAM}?name={q('/pscache/string')}&label=stable").json()["Parameter"]["Value"] == "value-v1"
    assert shared_ext.get(f"{PARAM}?name={q('/pscache/string:1')}").json()["Parameter"]["Version"] == 1
    # First of version/label in the query string wins.
    assert shared_ext.get(f"{PARAM}?name={q('/pscache/string')}&version=2&label=stable").json()["Parameter"]["Version"] == 2
    assert shared_ext.get(f"{PARAM}?name={q('/pscache/string')}&label=stable&version=2").json()["Parameter"]["Version"] == 1


def test_parameter_by_arn(shared_ext, aws):
    arn = aws["ssm"].get_parameter(Name="/pscache/string")["Parameter"]["ARN"]
    r = shared_ext.get(f"{PARAM}?name={q(arn)}")
    assert r.status == 200 and r.json()["Parameter"]["Value"] == "value-v2"


def test_secure_string_with_and_without_decryption(shared_ext):
    plain = shared_ext.get(f"{PARAM}?name={q('/pscache/secure')}&withDecryption=true").json()["Parameter"]
    assert plain["Type"] == "SecureString" and plain["Value"] == "secure-value"
    hidden = shared_ext.get(f"{PARAM}?name={q('/pscache/secure')}&withDecryption=false").json()["Parameter"]
    assert hidden["Value"] != "secure-value"


def test_secrets_manager_reference_through_the_parameter_endpoint(shared_ext):
    name = q("/aws/reference/secretsmanager/pscache/secret")
    r = shared_ext.get(f"{PARAM}?name={name}&withDecryption=true")
    assert r.status == 200
    p = r.json()["Parameter"]
    assert p["Value"] == SECRET_V2 and p["Type"] == "SecureString"
    assert isinstance(json.loads(p["SourceResult"]), dict)  # a JSON document inside a string
    # SSM itself requires withDecryption for references: a 400 with its code.
    r = shared_ext.get(f"{PARAM}?name={name}")
    assert r.status == 400 and r.error_code == "ValidationException"


# -- secrets -----------------------------------------------------------------

def test_secret_shape_and_key_order(shared_ext, aws):
    r = shared_ext.get(f"{SECRET}?secretId={q('pscache/secret')}")
    assert r.status == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert list(doc) == ["ARN", "CreatedDate", "Name", "SecretBinary", "SecretString", "VersionId", "VersionStages", "ResultMetadata"]
    assert doc["ARN"] == aws["secret_arn"] and doc["Name"] == "pscache/secret"
    assert doc["SecretString"] == SECRET_V2 and doc["SecretBinary"] is None
    assert doc["VersionId"] == aws["secret_v2"] and doc["VersionStages"] == ["AWSCURRENT"]
    assert RFC3339.match(doc["CreatedDate"]) and doc["ResultMetadata"] == {}


def test_secret_by_arn_stage_version_and_trailing_slash(shared_ext, aws):
    assert shared_ext.get(f"{SECRET}?secretId={q(aws['secret_arn'])}").json()["SecretString"] == SECRET_V2
    prev = shared_ext.get(f"{SECRET}/?secretId={q('pscache/secret')}&versionStage=AWSPREVIOUS").json()
    assert prev["SecretString"] == SECRET_V1 and prev["VersionStages"] == ["AWSPREVIOUS"]
    by_id = shared_ext.get(f"{SECRET}?secretId={q('pscache/secret')}&versionId={aws['secret_v1']}").json()
    assert by_id["SecretString"] == SECRET_V1


def test_binary_secret_is_base64(shared_ext):
    import base64

    doc = shared_ext.get(f"{SECRET}?secretId={q('pscache/binary')}").json()
    assert doc["SecretString"] is None and base64.b64decode(doc["SecretBinary"]) == BINARY


# -- the token and request checks -----------------------------------------------

@pytest.mark.parametrize("header", ["X-Aws-Parameters-Secrets-Token", "X-AWS-Parameters-Secrets-Token", "x-aws-parameters-secrets-token"])
def test_token_header_in_any_case(shared_ext, header):
    r = shared_ext.get(f"{PARAM}?name=plain-name", token=None, headers={header: TOKEN})
    assert r.status == 200


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x", TOKEN[:-1]])
def test_missing_or_wrong_token_is_403(shared_ext, proxy, token):
    headers = {} if token is None else {"X-Aws-Parameters-Secrets-Token": token}
    for path in (f"{PARAM}?name=plain-name", f"{SECRET}?secretId=pscache/secret"):
        r = shared_ext.get(path, token=None, headers=headers)
        assert r.status == 403 and r.error_code == "InvalidToken"
        assert TOKEN not in r.body.decode()
    assert proxy.count("GetParameter") == proxy.count("GetSecretValue") == 0


def test_token_in_the_query_string_is_not_accepted(shared_ext):
    r = shared_ext.get(f"{PARAM}?name=plain-name&X-Aws-Parameters-Secrets-Token={TOKEN}", token=None)
    assert r.status == 403


def test_x_forwarded_for_is_400(shared_ext):
    r = shared_ext.get(f"{PARAM}?name=plain-name", headers={"X-Forwarded-For": "10.0.0.1"})
    assert r.status == 400 and r.error_code == "ForwardedRequest"


@pytest.mark.parametrize("path", ["/", "/systemsmanager/parameters", "/secretsmanager/get/x", "/pscache", "/systemsmanager/parameters/get//"])
def test_unknown_path_is_404(shared_ext, path):
    r = shared_ext.get(path)
    assert r.status == 404 and r.error_code == "UnknownPath"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_are_405(shared_ext, method):
    r = shared_ext.get(f"{SECRET}?secretId=pscache/secret", method=method)
    assert r.status == 405 and r.headers["allow"] == "GET"
    if method != "HEAD":
        assert r.error_code == "MethodNotAllowed"


@pytest.mark.parametrize("path,missing", [(PARAM, "name"), (PARAM + "/", "name"), (SECRET, "secretId"), (SECRET + "/", "secretId")])
def test_missing_required_parameter_is_400_naming_it(shared_ext, path, missing):
    r = shared_ext.get(path)
    assert r.status == 400 and r.error_code == "MissingParameter"
    assert r.text == f"MissingParameter: the query parameter '{missing}' is required"


def test_bad_with_decryption_is_400(shared_ext):
    r = shared_ext.get(f"{PARAM}?name=plain-name&withDecryption=yes")
    assert r.status == 400 and r.error_code == "InvalidParameterValue"


def test_served_on_ipv6_loopback_and_only_on_loopback(shared_ext):
    assert http_get(shared_ext.port, f"{PARAM}?name=plain-name", host="::1").status == 200
    listening = open("/proc/net/tcp").read() + open("/proc/net/tcp6").read()
    port_hex = f":{shared_ext.port:04X}"
    local = [line.split()[1] for line in listening.splitlines()[1:] if line.split()[1].endswith(port_hex) and line.split()[3] == "0A"]
    # 0100007F = 127.0.0.1; ::1 in /proc/net/tcp6 notation.
    assert sorted(local) == sorted([f"0100007F{port_hex}", f"00000000000000000000000001000000{port_hex}"])


def test_keep_alive_serves_many_requests_on_one_connection(shared_ext):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", shared_ext.port, timeout=10)
    try:
        for _ in range(5):
            conn.request("GET", f"{PARAM}?name=plain-name", headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
            r = conn.getresponse()
            assert r.status == 200 and json.loads(r.read())["Parameter"]["Value"] == "no-slash"
    finally:
        conn.close()


def test_keep_alive_responses_do_not_stall_on_delayed_acks(shared_ext):
    """Regression: without TCP_NODELAY each keep-alive response waited ~40 ms for the client's delayed ACK."""
    import statistics

    done = kept_alive_requests(shared_ext.port, "GET", f"{PARAM}?name=plain-name", 21,
                               headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
    samples = [seconds for seconds, _ in done]
    assert statistics.median(samples[1:]) < 0.02  # a stall is >= 40 ms every time; a hit takes well under 1 ms


def test_garbage_on_the_socket_does_not_kill_the_server(shared_ext):
    with socket.create_connection(("127.0.0.1", shared_ext.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        s.recv(1000)
    assert shared_ext.get(f"{PARAM}?name=plain-name").status == 200


# -- the two forms of an error answer ---------------------------------------------

ERRORS = [  # (path, token, code) over the kinds of error: upstream, validation, auth, routing
    (f"{PARAM}?name=%2Fpscache%2Fmissing", TOKEN, "ParameterNotFound"),
    (f"{SECRET}?secretId=pscache/missing", TOKEN, "ResourceNotFoundException"),
    (SECRET, TOKEN, "MissingParameter"),
    (f"{PARAM}?name=plain-name", "wrong", "InvalidToken"),
    ("/nowhere", TOKEN, "UnknownPath"),
]


@pytest.mark.parametrize("path,token,code", ERRORS)
@pytest.mark.parametrize("accept", [None, "*/*", "text/plain", "text/html,application/xhtml+xml,*/*;q=0.8", "application/json;q=0"])
def test_errors_are_plain_text_unless_json_is_asked_for(shared_ext, path, token, code, accept):
    r = shared_ext.get(path, token=token, headers={} if accept is None else {"Accept": accept})
    assert r.status >= 400 and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-amzn-errortype"] == code
    assert r.text.startswith(f"{code}: ") and len(r.text) > len(code) + 2
    with pytest.raises(ValueError):
        json.loads(r.body)  # a client that decodes any body as its success shape gets an error, not a value


@pytest.mark.parametrize("path,token,code", ERRORS)
@pytest.mark.parametrize("accept", ["application/json", "text/plain;q=0.5, Application/JSON", "*/*, application/json;q=0.1"])
def test_errors_are_json_when_the_accept_header_names_it(shared_ext, path, token, code, accept):
    r = shared_ext.get(path, token=token, headers={"Accept": accept})
    assert r.headers["content-type"] == "application/json" and r.headers["x-amzn-errortype"] == code
    doc = r.json()
    assert list(doc) == ["__type", "message"] and doc["__type"] == code and doc["message"]


def test_the_text_and_json_forms_say_the_same(shared_ext):
    path = f"{PARAM}?name=%2Fpscache%2Fmissing"
    text, doc = shared_ext.get(path), shared_ext.get(path, headers={"Accept": "application/json"})
    assert text.status == doc.status == 404
    assert text.text == f"{doc.json()['__type']}: {doc.json()['message']}"


def test_successes_stay_json_whatever_the_accept_header(shared_ext):
    r = shared_ext.get(f"{PARAM}?name=plain-name", headers={"Accept": "text/plain"})
    assert r.status == 200 and r.headers["content-type"] == "application/json" and "x-amzn-errortype" not in r.headers
    assert r.json()["Parameter"]["Value"] == "no-slash"


# -- upstream errors -------------------------------------------------------------

def test_not_found_errors_are_404_with_the_aws_code(shared_ext):
    r = shared_ext.get(f"{PARAM}?name={q('/pscache/missing')}")
    assert r.status == 404 and r.error_code == "ParameterNotFound"
    r = shared_ext.get(f"{PARAM}?name={q('/pscache/string')}&version=99")
    assert r.status == 404 and r.error_code == "ParameterVersionNotFound"
    r = shared_ext.get(f"{SECRET}?secretId=pscache/missing")
    assert r.status == 404 and r.error_code == "ResourceNotFoundException"
    assert r.text.startswith("ResourceNotFoundException: ") and r.headers["content-type"].startswith("text/plain")


def test_bad_version_id_is_a_400_validation_error(shared_ext):
    r = shared_ext.get(f"{SECRET}?secretId=pscache/secret&versionId=short")
    assert r.status == 400 and r.error_code == "ValidationException"


def test_errors_are_not_cached(shared_ext, proxy):
    for _ in range(3):
        assert shared_ext.get(f"{PARAM}?name={q('/pscache/not-cached-missing')}").status == 404
    assert proxy.count("GetParameter") == 3
