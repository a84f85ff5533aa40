"""The local AWS every benchmark talks to: moto in server mode behind the counting fault proxy, seeded with one
parameter and one secret, and the environment Lambda would give pscache and the function."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import boto3  # noqa: E402

from fault_proxy import FaultProxy  # noqa: E402
from harness import python_extensions_dir, start_moto  # noqa: E402

TOKEN = "bench-token"
PARAM_NAME, PARAM_VALUE = "/bench/param", "v" * 64
SECRET_ID, SECRET_VALUE = "bench/secret", "s" * 64
PARAM = "/systemsmanager/parameters/get?name=%2Fbench%2Fparam"
SECRET = "/secretsmanager/get?secretId=bench%2Fsecret"
UPSTREAM_OPS = ("GetParameter", "GetParameters", "GetParametersByPath", "GetSecretValue", "BatchGetSecretValue")


def base_env(endpoint: str, port: int) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": TOKEN,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(port),
    }


def bench_parser(doc: str, runs: int) -> argparse.ArgumentParser:
    """The options every pscache-against-something benchmark takes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", help="unpacked layer folder: run the compiled binary instead of python -m app")
    parser.add_argument("--runs", type=int, default=runs, help="repetitions; figures are medians over them")
    parser.add_argument("--json", help="write every run's raw figures here")
    return parser


def pscache_extensions(layer: str | None, work: Path) -> Path:
    """The extensions folder to run: the compiled binary of an unpacked layer, else `python -m app`."""
    return Path(layer) / "extensions" if layer else python_extensions_dir(work / "python-ext")


def upstream_calls(proxy: FaultProxy) -> int:
    """Every read call that reached the local AWS through the proxy."""
    return sum(proxy.count(op) for op in UPSTREAM_OPS)


def start_local_aws(extra_parameters: int = 0) -> tuple[subprocess.Popen, FaultProxy]:
    """moto plus the proxy, seeded with PARAM_NAME, SECRET_ID and /bench/param-1.. /bench/param-N."""
    moto, port = start_moto()
    kw = dict(region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="b",
              aws_secret_access_key="b")
    ssm = boto3.client("ssm", **kw)
    ssm.put_parameter(Name=PARAM_NAME, Value=PARAM_VALUE, Type="String")
    for i in range(1, extra_parameters + 1):
        ssm.put_parameter(Name=f"{PARAM_NAME}-{i}", Value=f"{PARAM_VALUE}-{i}", Type="String")
    boto3.client("secretsmanager", **kw).create_secret(Name=SECRET_ID, SecretString=SECRET_VALUE)
    proxy = FaultProxy(port)
    # The proxy writes headers and body in two sends; with Nagle on, a kept-alive client's delayed ACK adds
    # ~40 ms to every call, which would be charged to whoever calls AWS most. Real AWS endpoints do not do that.
    proxy.server.RequestHandlerClass.disable_nagle_algorithm = True
    proxy.server.handle_error = lambda request, address: None  # resets from environments killed at the end
    return moto, proxy


def stop_local_aws(moto: subprocess.Popen, proxy: FaultProxy) -> None:
    proxy.close()
    moto.terminate()
    moto.wait(10)
