"""Real AWS clients pointed at pscache by environment variable alone, as functions in the emulator.

Each client is a function of examples/ (sdk_function.py, sdk_function.mjs) with AWS_ENDPOINT_URL_SSM and
AWS_ENDPOINT_URL_SECRETS_MANAGER set to pscache's port and nothing else changed: boto3, Powertools Parameters for
Python, the AWS CLI (the `awscli` package), the JavaScript SDK v3 and Powertools Parameters for TypeScript (npm).
The AWS SDK for Go v2 is Debian's (golang-github-aws-aws-sdk-go-v2-dev, 1.17.1): the suite's own function
(tests/clients/sdk-go), built in GOPATH mode, sets its endpoint in code from the same variables (that release
predates them). pscache runs as the environment's extension and inherits the same variables (it must not follow
them itself).
"""

import sys
import time
from dataclasses import dataclass

import pytest

from bench.node_sdk import ensure_node_sdk
from harness import ROOT, free_port
from locallambda.fault_proxy import throttle
from locallambda.runtimes import EXAMPLES, go_build, require

SECRET_ID = "pscache/secret"
MASKED = "sec... (19 chars)"  # SECRET_V2, as the handlers return it


@dataclass(frozen=True)
class Client:
    name: str
    language: str
    handler: str
    reads: tuple  # the APIs its parameter and secret reads call
    missing: str  # the errorType Lambda reports for a missing parameter
    missing_secret: str  # ... and for a missing secret

    def command(self, scratch):
        if self.language == "node":
            require("node")
            return [str(EXAMPLES / "node/bootstrap")]
        if self.language == "go":
            return [str(go_build(ROOT / "tests/clients/sdk-go", ".", scratch / "sdk-go", scratch, debian_packages=True))]
        return [sys.executable, str(EXAMPLES / "python/bootstrap")]  # with site-packages: boto3 and friends


READS = ("GetParameter", "GetSecretValue")
CLIENTS = [
    Client("boto3", "python", "sdk_function.boto3_handler", READS, "ParameterNotFound", "ResourceNotFoundException"),
    Client("powertools-python", "python", "sdk_function.powertools_handler", ("GetParameters", "GetSecretValue"),
           "GetParameterError", "GetParameterError"),
    Client("aws-cli", "python", "sdk_function.cli_handler", READS, "CliError", "CliError"),
    Client("js-sdk-v3", "node", "sdk_function.handler", READS, "ParameterNotFound", "ResourceNotFoundException"),
    Client("powertools-typescript", "node", "sdk_function.powertoolsHandler", READS, "GetParameterError",
           "GetParameterError"),
    pytest.param(Client("go-sdk-v2", "go", "bootstrap", READS, "*types.ParameterNotFound",
                        "*types.ResourceNotFoundException"), marks=pytest.mark.slow),  # a cold build of the SDK in GOPATH mode takes a minute
]


def client_id(client) -> str:
    return client.name


@pytest.fixture(scope="module")
def commands(tmp_path_factory):
    """client -> its runtime command, built once per module (the Go function)."""
    built = {}

    def command(client: Client):
        if client.name not in built:
            built[client.name] = client.command(tmp_path_factory.mktemp(client.name))
        return built[client.name]

    return command


def start(lam, commands, client: Client, **settings):
    port = free_port()
    endpoint = f"http://localhost:{port}"
    env = {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port, "AWS_ENDPOINT_URL_SSM": endpoint,
           "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint, "EXAMPLE_PARAMETER": "/pscache/string",
           "EXAMPLE_SECRET": SECRET_ID, **settings}
    if client.language == "node":
        env["SDK_NODE_MODULES"] = ensure_node_sdk()  # npm install on first use; fails (does not skip) without npm
    emu, _ = lam(env, runtime=commands(client), handler_name=client.handler, init_timeout_s=60)
    init = emu.init()
    assert init.ok, (init, emu.runtime_output())
    return emu


def invoke(emu, payload=None):
    result = emu.invoke(payload=payload, timeout_s=60)
    assert result.ok, (result, emu.runtime_output())
    return result


def expected(name="/pscache/string", value="value-v2"):
    return {"parameter": {"name": name, "value": value}, "secret": {"name": SECRET_ID, "value": MASKED}}


def error_text(result) -> str:
    return f"{result.function_error} {result.response.get('errorMessage', '')}"


@pytest.mark.parametrize("client", CLIENTS, ids=client_id)
def test_client_reads_through_pscache_by_endpoint_variable_alone(lam, commands, proxy, aws, client):
    written = f"/pscache/sdk/{client.name}"
    aws["ssm"].put_parameter(Name=written, Value="before", Type="String", Overwrite=True)
    emu = start(lam, commands, client)
    for _ in range(2):
        result = invoke(emu)
        assert result.function_error is None and result.response == expected(), (result, emu.runtime_output())
    # The second read was served from pscache's cache: one call per API in all.
    assert [proxy.count(api) for api in client.reads] == [1, 1]

    # A write passes through to AWS, and the next read is fresh although the old value was cached.
    assert invoke(emu, {"parameter": written}).response == expected(written, "before")
    assert invoke(emu, {"write": {"name": written, "value": f"after-{client.name}"}}).function_error is None
    assert proxy.count("PutParameter") == 1
    assert invoke(emu, {"parameter": written}).response == expected(written, f"after-{client.name}")

    missing = invoke(emu, {"parameter": "/pscache/sdk/missing", "single": True})
    assert missing.function_error == client.missing, (missing, emu.runtime_output())
    assert "ParameterNotFound" in error_text(missing) or "/pscache/sdk/missing" in error_text(missing)
    missing = invoke(emu, {"secret": "pscache/sdk/missing"})
    assert missing.function_error == client.missing_secret, (missing, emu.runtime_output())
    assert any(said in error_text(missing) for said in ("ResourceNotFoundException", "pscache/sdk/missing",
                                                         "can't find the specified secret")), missing

    calls = sum(proxy.calls.values())
    foreign = invoke(emu, {"foreign": True, "single": True})
    assert foreign.function_error and "UnrecognizedClientException" in error_text(foreign) or \
        "security token included in the request is invalid" in error_text(foreign), (foreign, emu.runtime_output())
    assert sum(proxy.calls.values()) == calls  # refused before anything was fetched


@pytest.mark.parametrize("client", CLIENTS, ids=client_id)
def test_client_sees_throttling_as_its_own_error_or_a_stale_value(lam, commands, proxy, client):
    # AWS_MAX_ATTEMPTS bounds the function's SDK only: pscache's clients set their own retries.
    emu = start(lam, commands, client, SSM_PARAMETER_STORE_TTL=1, PSCACHE_STALE_IF_ERROR=60, AWS_MAX_ATTEMPTS=1)
    assert invoke(emu).response == expected()
    time.sleep(1.2)  # the parameter expired; it may be served stale for 60 s
    proxy.always(client.reads[0], throttle())
    stale = invoke(emu)
    assert stale.function_error is None and stale.response == expected(), (stale, emu.runtime_output())
    throttled = invoke(emu, {"parameter": "/pscache/list"})  # never cached: nothing stale to serve
    assert throttled.function_error, (throttled, emu.runtime_output())
    assert "ThrottlingException" in error_text(throttled) or "Rate exceeded" in error_text(throttled)
