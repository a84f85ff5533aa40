"""Starting the product under test and talking to it.

The product is whatever `extensions/pscache` points to: by default a launcher
that execs `python -m app`; with PSCACHE_TEST_LAYER=<unpacked layer dir> it is
the compiled binary from the layer zip. Every test drives that one executable.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-session-token"


def free_port() -> int:
    """A port free on 127.0.0.1 and on ::1, since pscache binds both."""
    for _ in range(50):
        with socket.socket() as s4:
            s4.bind(("127.0.0.1", 0))
            port = s4.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET6) as s6:
                    s6.bind(("::1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def extensions_dir(tmp_path: Path) -> Path:
    """A folder holding exactly one executable named pscache, as /opt/extensions does."""
    layer = os.environ.get("PSCACHE_TEST_LAYER")
    if layer:
        folder = Path(layer) / "extensions"
        assert (folder / "pscache").is_file(), f"PSCACHE_TEST_LAYER={layer} has no extensions/pscache"
        return folder
    return python_extensions_dir(tmp_path / "extensions")


def python_extensions_dir(folder: Path) -> Path:
    """An extensions folder whose pscache execs `python -m app` with this interpreter."""
    folder.mkdir(exist_ok=True)
    launcher = folder / "pscache"
    launcher.write_text(
        "#!/bin/sh\n"
        "# Registered name = this file's name, as for the compiled binary.\n"
        'export PSCACHE_EXTENSION_NAME="$(basename "$0")"\n'
        f'cd "{ROOT}"\n'
        f'exec "{sys.executable}" -m app "$@"\n'
    )
    launcher.chmod(0o755)
    return folder


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        import json

        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


def http_get(
    port: int,
    path: str,
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    host: str = "127.0.0.1",
    timeout: float = 30,
) -> Response:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.setdefault("X-Aws-Parameters-Secrets-Token", token)
        conn.request(method, path, headers=all_headers)
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def wait_until_serving(port: int, proc: subprocess.Popen | None = None, timeout: float = 30, path: str = "/") -> None:
    """Poll until anything answers HTTP on the port (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited early with {proc.returncode}")
        try:
            http_get(port, path, token=None, timeout=2)
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing served on port {port} within {timeout}s")


def start_moto(log=subprocess.DEVNULL) -> tuple[subprocess.Popen, int]:
    """moto in server mode, in its own process on a free loopback port: the local AWS."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(port, proc, timeout=60, path="/moto-api/")
    except Exception:
        proc.kill()
        raise
    return proc, port


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


def raw_request(port: int, data: bytes, timeout: float = 10, host: str = "127.0.0.1") -> Response | None:
    """Send bytes exactly as given and read one response: None if the server closed without answering.

    A response that is not well-formed HTTP raises (http.client.HTTPException). The server may answer and
    stop reading before all of data is sent (an oversized head): a failed send still reads the answer.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass
        # A response to HEAD has a Content-Length but no body.
        r = http.client.HTTPResponse(sock, method="HEAD" if data.startswith(b"HEAD ") else "GET")
        try:
            r.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())


def rss_and_fds(pid: int) -> tuple[int, int]:
    """Resident memory (bytes) and open file descriptors of a live process, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return rss_kb * 1024, len(os.listdir(f"/proc/{pid}/fd"))
