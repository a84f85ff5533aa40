"""pscache as a plain local server: start-up lines, log levels, bad settings, signals."""

import signal

import pytest

from harness import free_port


def test_startup_line_names_version_and_port(start_ext):
    from app import __version__

    e = start_ext()
    first = e.output().splitlines()[0]
    assert f"pscache {__version__}" in first and f"127.0.0.1:{e.port}" in first and " INFO " in first
    assert f"[::1]:{e.port}" in first


def test_debug_logs_the_effective_settings_without_the_token(start_ext):
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="DEBUG", SSM_PARAMETER_STORE_TTL=42)
    out = e.output()
    assert "SSM_PARAMETER_STORE_TTL=42s" in out and "SECRETS_MANAGER_TTL=300s (default)" in out
    assert "token source: AWS_SESSION_TOKEN" in out
    from harness import TOKEN

    assert TOKEN not in out


def test_log_level_none_is_silent(start_ext):
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="none")
    assert e.get("/secretsmanager/get?secretId=missing").status == 404
    assert e.stop() == 0
    assert e.output() == ""


def test_error_level_hides_info(start_ext, proxy):
    from locallambda.fault_proxy import error

    e = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="error")
    proxy.inject("GetSecretValue", error(400, "AccessDeniedException", "denied"))  # the role needs a change: ERROR
    assert e.get("/secretsmanager/get?secretId=pscache/secret").status == 403
    e.stop()
    lines = e.output().splitlines()
    assert lines and all(" ERROR " in line for line in lines)


@pytest.mark.parametrize(
    "variable,value",
    [
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "abc"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "-1"),
        ("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "loud"),
    ],
)
def test_invalid_setting_exits_non_zero_naming_it(start_ext, variable, value):
    e = start_ext(wait=False, **{variable: value})
    assert e.wait() == 1
    out = e.output()
    assert variable in out and repr(value) in out and " ERROR " in out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_with_exit_0(start_ext, sig):
    e = start_ext()
    assert e.stop(sig) == 0


def test_port_in_use_is_a_clear_error(start_ext):
    import socket

    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        e = start_ext(wait=False, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=port)
        assert e.wait() == 1
    assert f"port {port}" in e.output()


def test_no_token_configured_refuses_everything(start_ext):
    e = start_ext(AWS_SESSION_TOKEN=None)
    r = e.get("/secretsmanager/get?secretId=pscache/secret", token="anything")
    assert r.status == 403 and "AWS_SESSION_TOKEN" in r.error_message


def test_container_authorization_token_is_the_fallback(start_ext):
    e = start_ext(AWS_SESSION_TOKEN=None, AWS_CONTAINER_AUTHORIZATION_TOKEN="container-token")
    assert e.get("/secretsmanager/get?secretId=pscache/secret", token="container-token").status == 200
    assert e.get("/secretsmanager/get?secretId=pscache/secret").status == 403


def test_region_from_aws_region_alone(start_ext):
    e = start_ext(AWS_DEFAULT_REGION=None)
    assert e.get("/secretsmanager/get?secretId=pscache/secret").status == 200


def test_no_region_is_a_clear_502(start_ext):
    e = start_ext(AWS_DEFAULT_REGION=None, AWS_REGION=None)
    r = e.get("/secretsmanager/get?secretId=pscache/secret")
    assert r.status == 502 and r.error_code == "NoRegion"


def test_per_service_endpoint_variable_wins(start_ext, proxy):
    # AWS_ENDPOINT_URL is unreachable; the per-service variables point at the local AWS.
    e = start_ext(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        AWS_ENDPOINT_URL_SSM=proxy.url,
        AWS_ENDPOINT_URL_SECRETS_MANAGER=proxy.url,
    )
    assert e.get("/systemsmanager/parameters/get?name=plain-name").status == 200
    assert e.get("/secretsmanager/get?secretId=pscache/secret").status == 200
