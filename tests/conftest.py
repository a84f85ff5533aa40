"""Session fixtures: a real local AWS (moto in server mode), seeded, behind a fault proxy."""

from __future__ import annotations

import os

import boto3
import pytest

from harness import TOKEN, LocalExtension, extensions_dir, free_port, start_moto
from locallambda.emulator import SNAP_START, LambdaEmulator
from locallambda.fault_proxy import FaultProxy
from locallambda.local_aws import extension_env


REGION = "us-east-1"
SECRET_V1 = "first-secret-value"
SECRET_V2 = "second-secret-value"
BINARY = b"\x00\x01\x02binary\xff\xfe"


def pytest_collection_modifyitems(config, items):
    """With PSCACHE_TEST_LAYER (the suite against a built binary), tests of the build recipe itself are left out:
    they exercise build/ and scripts/, not the product, and the tier without a layer ran them on the same commit."""
    if not os.environ.get("PSCACHE_TEST_LAYER"):
        return
    recipe = [item for item in items if item.get_closest_marker("recipe")]
    if recipe:
        config.hook.pytest_deselected(items=recipe)
        items[:] = [item for item in items if not item.get_closest_marker("recipe")]


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """moto_server in its own process on a loopback port."""
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc, port = start_moto(log)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    log.close()


def _client(service: str, endpoint: str):
    return boto3.client(
        service, region_name=REGION, endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


@pytest.fixture(scope="session")
def aws(moto):
    """Seed parameters (String, StringList, SecureString; versions, labels) and secrets (string, binary; stages)."""
    ssm = _client("ssm", moto)
    ssm.put_parameter(Name="/pscache/string", Value="value-v1", Type="String")
    ssm.put_parameter(Name="/pscache/string", Value="value-v2", Type="String", Overwrite=True)
    ssm.label_parameter_version(Name="/pscache/string", ParameterVersion=1, Labels=["stable"])
    ssm.put_parameter(Name="/pscache/list", Value="a,b,c", Type="StringList")
    ssm.put_parameter(Name="/pscache/secure", Value="secure-value", Type="SecureString")
    ssm.put_parameter(Name="plain-name", Value="no-slash", Type="String")
    for i in range(6):
        ssm.put_parameter(Name=f"/pscache/lru/{i}", Value=f"lru-{i}", Type="String")
    sm = _client("secretsmanager", moto)
    first = sm.create_secret(Name="pscache/secret", SecretString=SECRET_V1)
    second = sm.put_secret_value(SecretId="pscache/secret", SecretString=SECRET_V2)
    binary = sm.create_secret(Name="pscache/binary", SecretBinary=BINARY)
    return {
        "ssm": ssm,
        "sm": sm,
        "secret_arn": first["ARN"],
        "secret_v1": first["VersionId"],
        "secret_v2": second["VersionId"],
        "binary_arn": binary["ARN"],
    }


@pytest.fixture(scope="session")
def proxy(moto):
    p = FaultProxy(int(moto.rsplit(":", 1)[1]))
    yield p
    p.close()


@pytest.fixture(autouse=True)
def _clean_proxy(request):
    # Only tests that use the proxy pay for it; each starts with no faults and zero counts.
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").reset_state()
    yield


@pytest.fixture(scope="session")
def base_env(proxy, aws):
    """What Lambda gives an extension, pointed at the local AWS through the proxy."""
    return extension_env(proxy.url, TOKEN)


@pytest.fixture(scope="module")
def shared_ext(tmp_path_factory, base_env):
    """One default-configured pscache for read-only tests of the HTTP API (its cache is shared: use distinct keys)."""
    ext = LocalExtension(tmp_path_factory.mktemp("shared"), dict(base_env))
    yield ext
    ext.stop()


@pytest.fixture
def start_ext(tmp_path, base_env):
    """Start pscache with extra settings; stopped at the end of the test."""
    started = []

    def start(wait: bool = True, **settings) -> LocalExtension:
        env = dict(base_env)
        for key, value in settings.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        ext = LocalExtension(tmp_path, env, wait=wait)
        started.append(ext)
        return ext

    yield start
    for ext in started:
        if ext.proc.poll() is None:
            ext.stop(timeout=10)


@pytest.fixture
def lam(tmp_path, base_env):
    """Build an emulator around the product's extensions folder; everything is killed at the end."""
    made = []

    def make(settings=None, **kwargs) -> tuple[LambdaEmulator, int]:
        port = free_port()
        env = {k: v for k, v in base_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
        env.update({"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(port)})
        env.update({k: str(v) for k, v in (settings or {}).items()})
        creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": TOKEN}
        if kwargs.get("mode") != SNAP_START:
            env.update(creds)
        emu = LambdaEmulator(extensions_dir(tmp_path), env=env, log_dir=tmp_path / "logs", **kwargs)
        made.append(emu)
        return emu, port

    yield make
    for emu in made:
        emu.close()
