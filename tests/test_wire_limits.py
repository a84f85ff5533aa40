"""The wire front refuses what AWS refuses: the limits the service models set on the five cached reads, answered
with AWS's ValidationException and its message, before anything is read or fetched.

Each case goes through boto3 and the JavaScript SDK v3, both pointed at pscache by the endpoint variables alone.
The 2773 API's batch endpoints keep their own limit of 100.
"""

import json
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.node_sdk import ensure_node_sdk
from conftest import REGION
from harness import ROOT, TOKEN
from locallambda.runtimes import require


def names(count: int, prefix: str = "/pscache/limits/") -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def refused(where: str, shown: str, constraint: str) -> str:
    return f"1 validation error detected: Value {shown} at '{where}' failed to satisfy constraint: Member must {constraint}"


LONG_NAME = "/" + "n" * 2048
# (id, service, operation, input, AWS's message); boto3 checks minimums itself, so only maximums go through it.
REFUSED = [
    ("11-names", "ssm", "GetParameters", {"Names": names(11)},
     refused("names", f"'[{', '.join(names(11))}]'", "have length less than or equal to 10")),
    ("21-secret-ids", "secretsmanager", "BatchGetSecretValue", {"SecretIdList": names(21, "pscache/limits-")},
     refused("secretIdList", f"'[{', '.join(names(21, 'pscache/limits-'))}]'", "have length less than or equal to 20")),
    ("by-path-max-results", "ssm", "GetParametersByPath", {"Path": "/pscache/lru", "MaxResults": 11},
     refused("maxResults", "'11'", "have value less than or equal to 10")),
    ("batch-max-results", "secretsmanager", "BatchGetSecretValue", {"SecretIdList": ["pscache/secret"], "MaxResults": 21},
     refused("maxResults", "'21'", "have value less than or equal to 20")),
    ("long-name", "ssm", "GetParameter", {"Name": LONG_NAME},
     refused("name", f"'{LONG_NAME}'", "have length less than or equal to 2048")),
    ("long-name-in-a-list", "ssm", "GetParameters", {"Names": ["/pscache/string", LONG_NAME]},
     refused("names.2.member", f"'{LONG_NAME}'", "have length less than or equal to 2048")),
    ("long-secret-id", "secretsmanager", "GetSecretValue", {"SecretId": "s" * 2049},
     refused("secretId", f"'{'s' * 2049}'", "have length less than or equal to 2048")),
]
# What only an SDK without client-side checks (the JavaScript SDK) sends: AWS's minimums.
REFUSED_BELOW_MINIMUM = [
    ("no-names", "ssm", "GetParameters", {"Names": []},
     refused("names", "'[]'", "have length greater than or equal to 1")),
    ("short-version-id", "secretsmanager", "GetSecretValue", {"SecretId": "pscache/secret", "VersionId": "v1"},
     refused("versionId", "'v1'", "have length greater than or equal to 32")),
    ("max-results-0", "ssm", "GetParametersByPath", {"Path": "/pscache/lru", "MaxResults": 0},
     refused("maxResults", "'0'", "have value greater than or equal to 1")),
]
# At the limits: served.
ACCEPTED = [
    ("10-names", "ssm", "GetParameters", {"Names": names(10)}),
    ("20-secret-ids", "secretsmanager", "BatchGetSecretValue", {"SecretIdList": names(20, "pscache/limits-")}),
    ("by-path-max-results-10", "ssm", "GetParametersByPath", {"Path": "/pscache/lru", "MaxResults": 10}),
]
READS = ("GetParameter", "GetParameters", "GetParametersByPath", "GetSecretValue", "BatchGetSecretValue")


@pytest.fixture
def endpoint_variables(shared_ext, monkeypatch):
    """The function's environment: pscache as both services' endpoint, and the credentials pscache holds."""
    endpoint = f"http://localhost:{shared_ext.port}"
    env = {"AWS_ENDPOINT_URL_SSM": endpoint, "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint, "AWS_REGION": REGION,
           "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": TOKEN}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return env


def boto3_call(service: str, operation: str, params: dict) -> dict:
    from botocore import xform_name

    client = boto3.client(service, config=Config(retries={"total_max_attempts": 1}))
    assert client.meta.endpoint_url.startswith("http://localhost:")  # from the variable alone
    return getattr(client, xform_name(operation))(**params)


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_boto3_gets_awss_validation_exception(endpoint_variables, proxy, case):
    _, service, operation, params, message = case
    with pytest.raises(ClientError) as info:
        boto3_call(service, operation, params)
    error = info.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", message)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sum(proxy.count(api) for api in READS) == 0  # refused before any read


@pytest.mark.parametrize("case", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_boto3_at_the_limits_is_served(endpoint_variables, case):
    _, service, operation, params = case
    assert boto3_call(service, operation, params)["ResponseMetadata"]["HTTPStatusCode"] == 200


def js_calls(env: dict, calls: list) -> list[dict]:
    """The calls made by the JavaScript SDK v3 in a Node process with env: one answer each."""
    require("node")
    done = subprocess.run(["node", str(ROOT / "tests/clients/node/sdk-calls.mjs")],
                          input=json.dumps([{"service": s, "operation": o, "input": i} for s, o, i in calls]),
                          capture_output=True, text=True, timeout=120,
                          env={**env, "PATH": "/usr/local/bin:/usr/bin:/bin", "SDK_NODE_MODULES": str(ensure_node_sdk())})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_javascript_sdk_gets_the_same_answers(endpoint_variables, proxy):
    cases = REFUSED + REFUSED_BELOW_MINIMUM
    answers = js_calls(endpoint_variables, [(s, o, i) for _, s, o, i, _ in cases])
    assert answers == [{"name": "ValidationException", "message": message, "status": 400} for *_, message in cases]
    assert sum(proxy.count(api) for api in READS) == 0
    assert js_calls(endpoint_variables, [(s, o, i) for _, s, o, i in ACCEPTED]) == [{"ok": True}] * len(ACCEPTED)


def test_the_2773_batch_endpoints_keep_their_own_limit_of_100(shared_ext):
    query = "&".join(f"names={n}" for n in names(100, "/pscache/limits-2773/"))
    r = shared_ext.get(f"/systemsmanager/parameters/batch?{query}")
    assert r.status == 200 and len(r.json()["InvalidParameters"]) == 100
    r = shared_ext.get(f"/systemsmanager/parameters/batch?{query}&names=/pscache/limits-2773/100")
    assert r.status == 400
