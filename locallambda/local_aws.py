"""The local AWS: moto in server mode on a loopback port, optionally behind the counting fault proxy, and the
environment Lambda would give an extension pointed at it (standard botocore settings, nothing test-only)."""

from __future__ import annotations

import os
import subprocess
import sys

from locallambda.fault_proxy import FaultProxy
from locallambda.net import free_port, wait_until_serving

REGION = "us-east-1"


def start_moto(log=subprocess.DEVNULL) -> tuple[subprocess.Popen, int]:
    """moto_server in its own process on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(port, proc, timeout=60, path="/moto-api/")
    except Exception:
        proc.kill()
        raise
    return proc, port


class LocalAws:
    """moto plus (by default) the fault proxy; `endpoint` is what AWS_ENDPOINT_URL should point at."""

    def __init__(self, proxy: bool = True, log=subprocess.DEVNULL, quiet_proxy: bool = True):
        self.moto, self.port = start_moto(log)
        self.moto_url = f"http://127.0.0.1:{self.port}"
        self.proxy = FaultProxy(self.port) if proxy else None
        if self.proxy is not None and quiet_proxy:
            # Resets from killed environments are no news.
            self.proxy.server.handle_error = lambda request, address: None
        self.endpoint = self.proxy.url if self.proxy else self.moto_url

    def client(self, service: str):
        """A boto3 client talking to moto directly (seeding, checks): never counted by the proxy."""
        import boto3

        return boto3.client(service, region_name=REGION, endpoint_url=self.moto_url,
                            aws_access_key_id="local", aws_secret_access_key="local")

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        self.moto.terminate()
        self.moto.wait(10)

    def __enter__(self) -> LocalAws:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def extension_env(endpoint: str, token: str, port: int | None = None) -> dict[str, str]:
    """What Lambda gives an extension (region, static credentials), pointed at the local AWS; nothing from the
    developer's own AWS setup leaks in. `port` sets the extension's HTTP port."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": token,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/nonexistent/pscache-local",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/pscache-local",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if port is not None:
        env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"] = str(port)
    return env
