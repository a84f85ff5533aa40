"""Upstream faults injected between pscache and moto: each becomes a JSON error with a status that says what happened."""

import time

import pytest

import fault_proxy as faults

PARAM = "/systemsmanager/parameters/get?name=%2Fpscache%2Fstring"
SECRET = "/secretsmanager/get?secretId=pscache%2Fsecret"


@pytest.fixture(scope="module")
def ext(tmp_path_factory, base_env):
    from harness import LocalExtension

    # Caching off, so every request reaches the proxy and meets its fault.
    env = dict(base_env, PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false")
    e = LocalExtension(tmp_path_factory.mktemp("faults"), env)
    yield e
    e.stop()


@pytest.mark.parametrize(
    "operation,path,code,status",
    [
        ("GetParameter", PARAM, "AccessDeniedException", 403),
        ("GetSecretValue", SECRET, "AccessDeniedException", 403),
        ("GetSecretValue", SECRET, "DecryptionFailure", 403),
        ("GetParameter", PARAM, "KMSAccessDeniedException", 403),
        ("GetSecretValue", SECRET, "UnrecognizedClientException", 403),
        ("GetParameter", PARAM, "ValidationException", 400),
        ("GetSecretValue", SECRET, "InvalidParameterException", 400),
        ("GetSecretValue", SECRET, "InvalidRequestException", 400),
    ],
)
def test_client_errors_map_to_a_status_and_keep_the_code(ext, proxy, operation, path, code, status):
    proxy.inject(operation, faults.error(400, code, "told you so"))
    r = ext.get(path)
    assert r.status == status
    assert r.json() == {"__type": code, "message": "told you so"}
    assert proxy.count(operation) == 1  # not retried


@pytest.mark.slow
def test_throttling_after_retries_is_429(ext, proxy):
    proxy.always("GetParameter", faults.throttle())
    r = ext.get(PARAM)
    assert r.status == 429 and r.json()["__type"] == "ThrottlingException"
    assert proxy.count("GetParameter") == 3  # three attempts, like the Go SDK's default retryer


@pytest.mark.slow
def test_throttling_once_is_retried_to_success(ext, proxy):
    proxy.inject("GetSecretValue", faults.throttle())
    r = ext.get(SECRET)
    assert r.status == 200 and proxy.count("GetSecretValue") == 2


@pytest.mark.slow
@pytest.mark.parametrize("status,code", [(500, "InternalServerError"), (503, "ServiceUnavailable")])
def test_server_errors_after_retries_are_502(ext, proxy, status, code):
    proxy.always("GetSecretValue", faults.error(status, code))
    r = ext.get(SECRET)
    assert r.status == 502 and r.json()["__type"] == code
    assert proxy.count("GetSecretValue") == 3


@pytest.mark.slow
def test_connection_reset_after_retries_is_502(ext, proxy):
    proxy.always("GetParameter", faults.reset())
    r = ext.get(PARAM)
    assert r.status == 502 and r.json()["__type"] == "UpstreamUnavailable"
    assert "Traceback" not in r.body.decode()


@pytest.mark.slow
def test_one_reset_is_retried_on_a_fresh_connection(ext, proxy):
    proxy.inject("GetParameter", faults.reset())
    assert ext.get(PARAM).status == 200


def test_timeout_millis_is_a_504_well_before_the_slow_answer(start_ext, proxy):
    e = start_ext(SSM_PARAMETER_STORE_TIMEOUT_MILLIS=300, PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false")
    proxy.always("GetParameter", faults.delay(3))
    started = time.monotonic()
    r = e.get(PARAM)
    elapsed = time.monotonic() - started
    assert r.status == 504 and r.json()["__type"] == "UpstreamTimeout" and "300 ms" in r.json()["message"]
    assert elapsed < 2.5  # the whole call is bounded, retries included
    # The other store has its own setting (0 = no pscache timeout): a 1 s delay is simply waited out.
    proxy.always("GetSecretValue", faults.delay(1))
    assert e.get(SECRET).status == 200


def test_timeout_zero_waits_for_a_slow_upstream(start_ext, proxy):
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false")
    proxy.inject("GetParameter", faults.delay(1.5))
    assert e.get(PARAM).status == 200


def test_unreachable_endpoint_is_502(start_ext):
    from harness import free_port

    e = start_ext(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", SSM_PARAMETER_STORE_TIMEOUT_MILLIS=5000)
    r = e.get(PARAM)
    assert r.status in (502, 504) and r.json()["__type"] in ("UpstreamUnavailable", "UpstreamTimeout")


def test_one_error_line_per_upstream_error_and_no_secret_in_logs(start_ext, proxy):
    from conftest import SECRET_V2
    from harness import TOKEN

    e = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug", PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false")
    assert e.get(SECRET).status == 200
    assert e.get("/systemsmanager/parameters/get?name=%2Fpscache%2Fsecure&withDecryption=true").status == 200
    proxy.inject("GetParameter", faults.error(400, "AccessDeniedException", "no"))
    assert e.get(PARAM).status == 403
    assert e.get("/secretsmanager/get?secretId=nope").status == 404
    e.stop()
    out = e.output()
    errors = [line for line in out.splitlines() if " ERROR " in line]
    assert len(errors) == 2
    assert "GetParameter" in errors[0] and "AccessDeniedException" in errors[0]
    assert "GetSecretValue" in errors[1] and "ResourceNotFoundException" in errors[1]
    for secret in (SECRET_V2, "secure-value", TOKEN, "testing"):
        assert secret not in out
