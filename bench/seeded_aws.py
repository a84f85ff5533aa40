"""The local AWS every benchmark talks to: moto in server mode behind the counting fault proxy
(locallambda.local_aws), seeded with one parameter and one secret, and the options every benchmark takes."""

from __future__ import annotations

import argparse

from locallambda.extensions import pscache_extensions  # noqa: F401  (the benchmarks' candidates)
from locallambda.fault_proxy import FaultProxy
from locallambda.local_aws import LocalAws, extension_env

TOKEN = "bench-token"
PARAM_NAME, PARAM_VALUE = "/bench/param", "v" * 64
SECRET_ID, SECRET_VALUE = "bench/secret", "s" * 64
PARAM = "/systemsmanager/parameters/get?name=%2Fbench%2Fparam"
SECRET = "/secretsmanager/get?secretId=bench%2Fsecret"
UPSTREAM_OPS = ("GetParameter", "GetParameters", "GetParametersByPath", "GetSecretValue", "BatchGetSecretValue")


def base_env(endpoint: str, port: int) -> dict[str, str]:
    return extension_env(endpoint, TOKEN, port)


def bench_parser(doc: str, runs: int) -> argparse.ArgumentParser:
    """The options every pscache-against-something benchmark takes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", help="unpacked layer folder: run the compiled binary instead of python -m app")
    parser.add_argument("--runs", type=int, default=runs, help="repetitions; figures are medians over them")
    parser.add_argument("--json", help="write every run's raw figures here")
    return parser


def upstream_calls(proxy: FaultProxy) -> int:
    """Every read call that reached the local AWS through the proxy."""
    return sum(proxy.count(op) for op in UPSTREAM_OPS)


def start_local_aws(extra_parameters: int = 0) -> LocalAws:
    """moto plus the proxy, seeded with PARAM_NAME, SECRET_ID and /bench/param-1.. /bench/param-N."""
    aws = LocalAws()
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=PARAM_NAME, Value=PARAM_VALUE, Type="String")
    for i in range(1, extra_parameters + 1):
        ssm.put_parameter(Name=f"{PARAM_NAME}-{i}", Value=f"{PARAM_VALUE}-{i}", Type="String")
    aws.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=SECRET_VALUE)
    return aws
