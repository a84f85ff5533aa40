"""Every setting: default, valid values, clamping, and a clear error for what cannot be parsed."""

import pytest

from app import config
from app.config import ConfigError


def load(**env):
    return config.load({k: str(v) for k, v in env.items()}, argv0="/opt/extensions/pscache")


def test_defaults_match_the_aws_extension():
    s = load()
    assert (s.port, s.cache_enabled, s.cache_size, s.max_connections, s.log_level) == (2773, True, 1000, 3, "info")
    assert (s.ssm_ttl, s.secrets_ttl, s.ssm_timeout_ms, s.secrets_timeout_ms) == (300, 300, 0, 0)
    assert s.warnings == ()
    assert s.extension_name == "pscache"
    assert not s.under_lambda


@pytest.mark.parametrize("raw,expected", [("TRUE", True), ("true", True), ("False", False), ("FALSE", False)])
def test_cache_enabled_is_case_insensitive(raw, expected):
    assert load(PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED=raw).cache_enabled is expected


@pytest.mark.parametrize("raw,expected", [("DEBUG", "debug"), ("info", "info"), ("Warn", "warn"), ("warning", "warn"), ("ERROR", "error"), ("none", "none")])
def test_log_level_is_case_insensitive(raw, expected):
    assert load(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL=raw).log_level == expected


@pytest.mark.parametrize("variable", ["SSM_PARAMETER_STORE_TTL", "SECRETS_MANAGER_TTL"])
def test_ttl_above_300_is_clamped_with_a_warning(variable):
    s = load(**{variable: 900})
    assert s.ttl_for("ssm" if variable.startswith("SSM") else "secretsmanager") == 300
    assert len(s.warnings) == 1 and variable in s.warnings[0] and "300" in s.warnings[0]


def test_cache_size_above_1000_is_clamped_with_a_warning():
    s = load(PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE=5000)
    assert s.cache_size == 1000
    assert "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE" in s.warnings[0]


def test_valid_values_are_taken():
    s = load(
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=8080,
        PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE=0,
        PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS=50,
        SSM_PARAMETER_STORE_TTL=0,
        SECRETS_MANAGER_TTL=60,
        SSM_PARAMETER_STORE_TIMEOUT_MILLIS=250,
        SECRETS_MANAGER_TIMEOUT_MILLIS=1000,
    )
    assert (s.port, s.cache_size, s.max_connections, s.ssm_ttl, s.secrets_ttl) == (8080, 0, 50, 0, 60)
    assert (s.timeout_ms_for("ssm"), s.timeout_ms_for("secretsmanager")) == (250, 1000)


@pytest.mark.parametrize(
    "variable,value,allowed",
    [
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "abc", "1 to 65535"),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "0", "1 to 65535"),
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "70000", "1 to 65535"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "yes", "true or false"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "-1", "0 to 1000"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "10.5", "0 to 1000"),
        ("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", "0", ">= 1"),
        ("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "verbose", "DEBUG, INFO, WARN, ERROR, NONE"),
        ("SSM_PARAMETER_STORE_TTL", "-5", "0 to 300"),
        ("SECRETS_MANAGER_TTL", "5m", "0 to 300"),
        ("SSM_PARAMETER_STORE_TIMEOUT_MILLIS", "-1", ">= 0"),
        ("SECRETS_MANAGER_TIMEOUT_MILLIS", "1s", ">= 0"),
        ("PSCACHE_NEGATIVE_TTL", "-1", "0 to 300s"),
        ("PSCACHE_NEGATIVE_TTL", "301", "0 to 300s"),  # at most PSCACHE_MAX_TTL
        ("PSCACHE_NEGATIVE_TTL", "1m", "0 to 300s"),
        ("PSCACHE_ALLOWED_ROLE_ARNS", "arn:aws:iam::12345:role/short-account", "arn:aws:iam::<12-digit account>:role/"),
        ("PSCACHE_ALLOWED_ROLE_ARNS", "arn:aws:iam::111111111111:user/not-a-role", "arn:aws:iam::<12-digit account>"),
        ("PSCACHE_ALLOWED_ROLE_ARNS", "arn:aws:iam::111111111111:role/*", "arn:aws:iam::<12-digit account>"),
        ("PSCACHE_ROLE_EXTERNAL_ID", "x", "2 to 1224 characters"),
        ("PSCACHE_ROLE_EXTERNAL_ID", "with space", "2 to 1224 characters"),
        ("PSCACHE_PREFETCH", "ssm-path:relative/path", "ssm-path:/<path>[?query]"),
    ],
)
def test_unparseable_values_name_variable_value_and_range(variable, value, allowed):
    with pytest.raises(ConfigError) as info:
        load(**{variable: value})
    message = str(info.value)
    assert variable in message and repr(value) in message and allowed in message


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        load(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="x", SECRETS_MANAGER_TTL="y")
    assert len(info.value.problems) == 2


def test_empty_values_count_as_unset():
    assert load(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT="", SSM_PARAMETER_STORE_TTL=" ").port == 2773


def test_unknown_and_misspelt_variables_are_ignored():
    s = load(PARAMETERS_AND_SECRETS_EXTENSION_CACHE_SIZE="abc", PARAMETERS_SECRETS_CACHE_SIZE="-3")
    assert s.cache_size == 1000


def test_caching_is_bypassed_per_service():
    assert not load(PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED="false").caching("ssm")
    assert not load(PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE=0).caching("secretsmanager")
    s = load(SSM_PARAMETER_STORE_TTL=0)
    assert not s.caching("ssm") and s.caching("secretsmanager")


def test_token_falls_back_to_the_container_token_and_is_never_in_repr():
    s = config.load({"AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-tok"}, argv0="x")
    assert s.token == "container-tok"
    s = config.load({"AWS_SESSION_TOKEN": "sess-tok", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "c"}, argv0="x")
    assert s.token == "sess-tok"
    assert "sess-tok" not in repr(s)


@pytest.mark.parametrize(
    "env,argv0,expected",
    [
        ({}, "/opt/extensions/pscache", "pscache"),
        ({}, "/opt/pscache/pscache", "pscache"),
        ({}, "/work/app/__main__.py", "pscache"),
        ({"PSCACHE_EXTENSION_NAME": "my-cache"}, "/x/__main__.py", "my-cache"),
        ({}, "/opt/extensions/renamed", "renamed"),
    ],
)
def test_extension_name(env, argv0, expected):
    assert config.extension_name(env, argv0) == expected


def test_lambda_settings():
    s = config.load({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_LAMBDA_INITIALIZATION_TYPE": "Snap-Start"}, argv0="x")
    assert s.under_lambda and s.runtime_api == "127.0.0.1:9001" and s.init_type == "snap-start"


@pytest.mark.parametrize("memory,expected", [
    (None, 64 << 20),  # outside Lambda: the fixed default
    (128, 8 << 20),  # 1/16 of the function's memory, which function and extensions share
    (512, 32 << 20),
    (1024, 64 << 20),
    (10240, 64 << 20),  # never above the fixed default
    ("not-a-number", 64 << 20),  # Lambda's variable, not ours to reject
])
def test_the_cache_byte_cap_defaults_to_a_share_of_the_function_memory(memory, expected):
    env = {} if memory is None else {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}
    assert load(**env).cache_max_bytes == expected


def test_an_explicit_cache_byte_cap_wins_over_the_memory_share():
    assert load(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128, PSCACHE_CACHE_MAX_BYTES=64 << 20).cache_max_bytes == 64 << 20
    assert load(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128, PSCACHE_CACHE_MAX_BYTES=0).cache_max_bytes == 0


@pytest.mark.parametrize("raw,expected", [("auto", "auto"), ("BEFORE-NEXT", "before-next"), ("After-Next", "after-next")])
def test_sdk_load_choices(raw, expected):
    assert load(PSCACHE_SDK_LOAD=raw).sdk_load == expected


def test_sdk_load_rejects_anything_else():
    with pytest.raises(ConfigError) as e:
        load(PSCACHE_SDK_LOAD="lazy")
    assert "PSCACHE_SDK_LOAD='lazy' is invalid: expected one of AUTO, BEFORE-NEXT, AFTER-NEXT" in str(e.value)


def test_the_ca_bundle_is_the_sdks_first_variable_set_and_only_a_missing_one_is_a_problem(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    both = {"AWS_CA_BUNDLE": str(bundle), "REQUESTS_CA_BUNDLE": "/elsewhere.pem"}
    assert config.load(both, argv0="pscache").ca_bundle == ("AWS_CA_BUNDLE", str(bundle))  # botocore's order
    assert config.ca_bundle_problem(("AWS_CA_BUNDLE", str(bundle))) is None
    assert config.ca_bundle_problem(("REQUESTS_CA_BUNDLE", str(tmp_path))) is None  # a hashed folder is fine
    assert config.load({}, argv0="pscache").ca_bundle is None
    problem = config.ca_bundle_problem(config.load({"REQUESTS_CA_BUNDLE": "/nope.pem"}, argv0="pscache").ca_bundle)
    assert problem.startswith("REQUESTS_CA_BUNDLE=/nope.pem: no such file")


@pytest.mark.parametrize("env,tls", [
    ({}, True),  # AWS's own endpoints
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, False),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_SSM": "https://ssm.example"}, True),
    ({"AWS_ENDPOINT_URL_SSM": "http://a", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://b"}, False),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, True),
])
def test_upstream_tls_follows_the_sdks_endpoint_variables(env, tls):
    assert config.load(env, argv0="pscache").upstream_tls is tls


@pytest.mark.parametrize("env,looped,tls", [
    ({}, {}, True),
    # The function's SDK reads through pscache; pscache itself calls AWS_ENDPOINT_URL, or AWS.
    ({"AWS_ENDPOINT_URL_SSM": "http://localhost:2773", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"},
     {"ssm": "http://127.0.0.1:5000"}, False),
    ({"AWS_ENDPOINT_URL_SSM": "http://localhost:2773", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://[::1]:2773/"},
     {"ssm": None, "secretsmanager": None}, True),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:2773"}, {"ssm": None, "secretsmanager": None}, True),
    # Another port, or another host, is an upstream like any other.
    ({"AWS_ENDPOINT_URL_SSM": "http://localhost:4566", "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://10.0.0.1:2773"},
     {}, False),
])
def test_endpoint_variables_naming_pscache_itself_are_not_its_upstream(env, looped, tls):
    settings = config.load(env, argv0="pscache")
    assert settings.self_endpoints == looped and settings.upstream_tls is tls


def test_the_port_decides_what_is_pscache_itself():
    env = {"AWS_ENDPOINT_URL_SSM": "http://localhost:9000", "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": "9000"}
    assert config.load(env, argv0="pscache").self_endpoints == {"ssm": None}
    assert config.points_at_self("http://localhost", 80) and not config.points_at_self("https://localhost", 80)


def test_cloud_extension_settings_default_to_the_aws_extensions_behaviour():
    s = load()
    assert (s.negative_ttl, s.allowed_role_arns, s.role_external_id) == (0, frozenset(), None)


def test_cloud_extension_settings_are_taken():
    roles = "arn:aws:iam::111111111111:role/reader, arn:aws-cn:iam::222222222222:role/team/app-reader"
    s = load(PSCACHE_NEGATIVE_TTL=30, PSCACHE_ALLOWED_ROLE_ARNS=roles, PSCACHE_ROLE_EXTERNAL_ID="partner:7f3a",
             PSCACHE_PREFETCH="ssm-path:/app/prod/?recursive=true ssm:/flag")
    assert s.negative_ttl == 30 and s.role_external_id == "partner:7f3a"
    assert s.allowed_role_arns == {"arn:aws:iam::111111111111:role/reader",
                                   "arn:aws-cn:iam::222222222222:role/team/app-reader"}
    assert s.prefetch == (("ssm-path", "/app/prod/", "recursive=true"), ("ssm", "/flag", ""))
    assert load(PSCACHE_MAX_TTL=3600, PSCACHE_NEGATIVE_TTL=3600).negative_ttl == 3600
    assert "partner:7f3a" not in repr(s)


def test_retry_and_jitter_settings_default_to_the_go_sdks_retryer_and_no_jitter():
    s = load()
    assert (s.retry_mode, s.max_attempts, s.ttl_jitter_percent) == ("standard", 3, 0)
    s = load(PSCACHE_RETRY_MODE="Adaptive", PSCACHE_MAX_ATTEMPTS=5, PSCACHE_TTL_JITTER_PERCENT=10)
    assert (s.retry_mode, s.max_attempts, s.ttl_jitter_percent) == ("adaptive", 5, 10)


def test_retry_and_jitter_settings_outside_their_range_are_named():
    with pytest.raises(ConfigError) as err:
        load(PSCACHE_RETRY_MODE="legacy", PSCACHE_MAX_ATTEMPTS=0, PSCACHE_TTL_JITTER_PERCENT=60)
    problems = err.value.problems
    assert problems[0] == "PSCACHE_TTL_JITTER_PERCENT='60' is out of range: expected a whole number from 0 to 50%"
    assert problems[1] == "PSCACHE_RETRY_MODE='legacy' is invalid: expected one of STANDARD, ADAPTIVE (any case)"
    assert problems[2] == "PSCACHE_MAX_ATTEMPTS='0' is out of range: expected a whole number from 1 to 10"
