"""Starting the product under test and talking to it (pscache's own layer over locallambda).

The product is whatever `extensions/pscache` points to: by default a launcher
that execs `python -m app`; with PSCACHE_TEST_LAYER=<unpacked layer dir> it is
the compiled binary from the layer zip. Every test drives that one executable.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from locallambda import net
from locallambda.extensions import ROOT, pscache_extensions, test_layer  # noqa: F401  (ROOT: for the tests)
from locallambda.local_aws import start_moto  # noqa: F401  (re-exported for the tests)
from locallambda.net import Response, free_port, raw_request, wait_until_serving  # noqa: F401
from locallambda.procstat import rss_and_fds  # noqa: F401

TOKEN = "test-session-token"


def extensions_dir(tmp_path: Path) -> Path:
    """A folder holding exactly one executable named pscache, as /opt/extensions does."""
    return pscache_extensions(tmp_path, test_layer())


def http_get(port: int, path: str, token: str | None = TOKEN, **kwargs) -> Response:
    """One request to pscache, with the test token unless told otherwise."""
    return net.http_get(port, path, token, **kwargs)


class LocalExtension:
    """pscache as a plain local server (no AWS_LAMBDA_RUNTIME_API), as in a container."""

    def __init__(self, tmp_path: Path, env: dict[str, str], wait: bool = True):
        given = env.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
        if given is None:
            env = dict(env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(free_port()))
        raw_port = env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"]
        self.port = int(raw_port) if raw_port.isdigit() else 0  # tests of bad values pass anything
        env.pop("AWS_LAMBDA_RUNTIME_API", None)
        self.log_path = tmp_path / f"pscache-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(extensions_dir(tmp_path) / "pscache")], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        if wait:
            wait_until_serving(self.port, self.proc)

    def get(self, path: str, **kwargs) -> Response:
        return http_get(self.port, path, **kwargs)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
