"""Upstream faults injected between pscache and moto: each becomes a JSON error with a status that says what happened."""

import time

import pytest

from locallambda import fault_proxy as faults
from conftest import SECRET_V2

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
    assert r.error_code == code and r.text == f"{code}: told you so"
    assert proxy.count(operation) == 1  # not retried


@pytest.mark.slow
def test_throttling_after_retries_is_429(ext, proxy):
    proxy.always("GetParameter", faults.throttle())
    r = ext.get(PARAM)
    assert r.status == 429 and r.error_code == "ThrottlingException"
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
    assert r.status == 502 and r.error_code == code
    assert proxy.count("GetSecretValue") == 3


@pytest.mark.slow
def test_connection_reset_after_retries_is_502(ext, proxy):
    proxy.always("GetParameter", faults.reset())
    r = ext.get(PARAM)
    assert r.status == 502 and r.error_code == "UpstreamUnavailable"
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
    assert r.status == 504 and r.error_code == "UpstreamTimeout" and "300 ms" in r.error_message
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
    assert r.status in (502, 504) and r.error_code in ("UpstreamUnavailable", "UpstreamTimeout")


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
    assert len(errors) == 1
    assert "GetParameter" in errors[0] and "AccessDeniedException" in errors[0]
    # A missing name is the caller's business (it gets the 404): DEBUG, not ERROR.
    missing = [line for line in out.splitlines() if "ResourceNotFoundException" in line]
    assert len(missing) == 1 and " DEBUG GetSecretValue request" in missing[0]
    for secret in (SECRET_V2, "secure-value", TOKEN, "testing"):
        assert secret not in out


# -- every fault: the documented answer, in time, and the process stays up ------------------------------------

TIMEOUT_MS = 4000  # per store; every answer must come within this plus MARGIN_S, retries included
MARGIN_S = 1.0
TRANSIENT = {"throttle", "500", "503", "reset", "slow", "truncate"}

FAULTS = {
    # name: (fault, expected status, expected error code)
    "throttle": (faults.throttle(), 429, "ThrottlingException"),
    "500": (faults.error(500, "InternalServerError"), 502, "InternalServerError"),
    "503": (faults.error(503, "ServiceUnavailable"), 502, "ServiceUnavailable"),
    "reset": (faults.reset(), 502, "UpstreamUnavailable"),
    "slow": (faults.delay(TIMEOUT_MS / 1000 + 2), 504, "UpstreamTimeout"),
    "expired": (faults.expired(), 403, "ExpiredTokenException"),
    "garbage": (faults.garbage(), 502, "InvalidUpstreamResponse"),  # was a 500 (KeyError) / a 200 of nulls
    "truncate": (faults.truncate(), 502, None),
}


@pytest.fixture(scope="module")
def bounded(tmp_path_factory, base_env):
    """Caching off and a whole-call timeout on both stores."""
    from harness import LocalExtension

    env = dict(base_env, PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false",
               SSM_PARAMETER_STORE_TIMEOUT_MILLIS=str(TIMEOUT_MS), SECRETS_MANAGER_TIMEOUT_MILLIS=str(TIMEOUT_MS))
    e = LocalExtension(tmp_path_factory.mktemp("bounded"), env)
    yield e
    e.stop()


def assert_error_shape(r, status, code):
    assert r.status == status, r
    assert r.headers["content-type"].startswith("text/plain") and r.error_code, r
    if code is not None:
        assert r.error_code == code
    assert "Traceback" not in r.error_message


@pytest.mark.slow
@pytest.mark.parametrize("operation,path", [("GetParameter", PARAM), ("GetSecretValue", SECRET)], ids=["ssm", "secrets"])
@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_answered_in_time_and_the_process_survives(bounded, proxy, operation, path, name):
    fault, status, code = FAULTS[name]
    proxy.always(operation, fault)
    started = time.monotonic()
    r = bounded.get(path)
    elapsed = time.monotonic() - started
    assert_error_shape(r, status, code)
    assert elapsed < TIMEOUT_MS / 1000 + MARGIN_S
    proxy.reset_state()
    assert bounded.get(path).status == 200
    assert bounded.proc.poll() is None


@pytest.mark.slow
def test_expired_credentials_are_403_and_not_retried(bounded, proxy):
    proxy.always("GetSecretValue", faults.expired())
    r = bounded.get(SECRET)
    assert_error_shape(r, 403, "ExpiredTokenException")
    assert "expired" in r.error_message
    assert proxy.count("GetSecretValue") == 1


@pytest.mark.slow
def test_a_throttling_burst_under_concurrent_load(bounded, proxy):
    """Twenty clients at once while the first 40 upstream calls are throttled: each is answered in time with 200,
    429 (its three attempts throttled) or 504 (backoff plus the wait for one of the 3 pooled connections ran out)."""
    from concurrent.futures import ThreadPoolExecutor

    proxy.inject("GetParameter", *[faults.throttle()] * 40)

    def one(_):
        started = time.monotonic()
        r = bounded.get(PARAM)
        return r, time.monotonic() - started

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    statuses = sorted(r.status for r, _ in results)
    # Which request meets three throttles in a row depends on how the attempts interleave, so no status is
    # required; that the burst was really spent on these requests is.
    assert set(statuses) <= {200, 429, 504}, statuses
    assert proxy.count("GetParameter") >= 40
    for r, elapsed in results:
        assert elapsed < TIMEOUT_MS / 1000 + MARGIN_S
        if r.status != 200:
            assert_error_shape(r, r.status, "ThrottlingException" if r.status == 429 else "UpstreamTimeout")
    assert bounded.get(PARAM).status == 200


@pytest.mark.slow
def test_unreachable_endpoint_answers_in_time_then_recovers_never(start_ext):
    """Nothing listens at the endpoint: a 502 well inside the timeout, on every request, and the process stays up."""
    from harness import free_port

    e = start_ext(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", SECRETS_MANAGER_TIMEOUT_MILLIS=TIMEOUT_MS)
    for _ in range(3):
        started = time.monotonic()
        r = e.get(SECRET)
        assert time.monotonic() - started < TIMEOUT_MS / 1000 + MARGIN_S
        assert_error_shape(r, 502, "UpstreamUnavailable")
    assert e.proc.poll() is None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRANSIENT))
def test_expired_entry_under_a_transient_fault(start_ext, proxy, name):
    """With PSCACHE_STALE_IF_ERROR set, an expired entry meets a transient fault: the last value, marked stale."""
    fault = FAULTS[name][0]
    e = start_ext(SECRETS_MANAGER_TTL=1, PSCACHE_STALE_IF_ERROR=60, SECRETS_MANAGER_TIMEOUT_MILLIS=TIMEOUT_MS)
    assert e.get(SECRET).status == 200
    time.sleep(1.2)  # expired
    proxy.always("GetSecretValue", fault)
    started = time.monotonic()
    r = e.get(SECRET)
    assert time.monotonic() - started < TIMEOUT_MS / 1000 + MARGIN_S
    assert r.status == 200 and r.json()["SecretString"] == SECRET_V2
    assert r.headers["x-pscache-cache"] == "stale"
    proxy.reset_state()
    assert e.get(SECRET).status == 200


def test_the_first_call_is_bounded_by_the_timeout_while_the_sdk_still_loads(start_ext, proxy):
    """Regression: the timeout covered only the AWS call, not the wait for the SDK import and client on the first
    request (which also blocked the event loop), so a 300 ms timeout took seconds on a loaded machine."""
    e = start_ext(SSM_PARAMETER_STORE_TIMEOUT_MILLIS=300, PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false")
    proxy.always("GetParameter", faults.delay(3))
    started = time.monotonic()
    r = e.get(PARAM)  # at once: the SDK is still being imported on its thread
    elapsed = time.monotonic() - started
    assert r.status == 504 and r.error_code == "UpstreamTimeout"
    assert elapsed < 0.3 + MARGIN_S
    proxy.reset_state()
    # Each later call has the same 300 ms; once the SDK is in (however long that takes here), one succeeds.
    deadline = time.monotonic() + 20
    while (status := e.get(PARAM).status) != 200 and time.monotonic() < deadline:
        assert status == 504
    assert status == 200


@pytest.mark.slow
@pytest.mark.parametrize("attempts", [1, 4])
def test_a_throttled_read_is_attempted_pscache_max_attempts_times(start_ext, proxy, attempts):
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false", PSCACHE_MAX_ATTEMPTS=attempts)
    proxy.always("GetParameter", faults.throttle())
    r = e.get(PARAM, timeout=30)
    assert r.status == 429 and r.error_code == "ThrottlingException"
    assert proxy.count("GetParameter") == attempts


@pytest.mark.slow
def test_adaptive_retry_mode_retries_a_throttled_read_to_success(start_ext, proxy):
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false", PSCACHE_RETRY_MODE="adaptive")
    proxy.inject("GetParameter", faults.throttle())
    assert e.get(PARAM, timeout=30).status == 200
    assert proxy.count("GetParameter") == 2


@pytest.mark.slow
def test_after_throttling_adaptive_mode_slows_its_own_calls_down(start_ext, proxy):
    """Adaptive retries: once throttled, the client paces its calls (botocore's rate limiter), so an environment
    stops hammering an upstream that is throttling the whole fleet."""
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false", PSCACHE_RETRY_MODE="adaptive")
    proxy.inject("GetParameter", faults.throttle(), faults.throttle())
    started = time.monotonic()
    answers = [e.get(PARAM, timeout=30).status for _ in range(6)]
    assert answers == [200] * 6 and proxy.count("GetParameter") == 8
    assert time.monotonic() - started > 2  # paced at the limiter's floor of 0.5-1 call per second, not at once
