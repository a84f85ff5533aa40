"""Loopback HTTP helpers: free ports, one-shot GETs, waiting for a server, raw bytes on a socket."""

from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import time


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(v) for v in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


_ports = random.Random()  # seeded per process: parallel test runs draw different sequences


def free_port() -> int:
    """A port free on 127.0.0.1 and on ::1 (pscache binds both), below the kernel's ephemeral range.

    A port the kernel picked for a bind to port 0 is ephemeral: until the server binds it, any outgoing connection
    on the machine may take it as its source port (seen as a rare Extension.ListenFailed on a busy host). Ports
    below that range are never given out implicitly, so only another explicit bind can collide.
    """
    low, _ = _ephemeral_range()
    start = 10000 if low > 11000 else 1024
    for _ in range(200):
        port = _ports.randrange(start, low)
        try:
            with socket.socket() as s4, socket.socket(socket.AF_INET6) as s6:
                s4.bind(("127.0.0.1", port))
                s6.bind(("::1", port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no free port in {start}-{low - 1}")


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers  # lower-cased names
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def error_code(self) -> str | None:
        """An error answer's code, from the X-Amzn-ErrorType header (pscache and AWS services send it)."""
        return self.headers.get("x-amzn-errortype")

    @property
    def error_message(self) -> str:
        """The message of a plain-text error body, `<code>: <message>`."""
        prefix = f"{self.error_code}: "
        assert self.text.startswith(prefix), f"not a plain-text error body: {self!r}"
        return self.text[len(prefix):]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"


def http_get(port: int, path: str, token: str | None = None, headers: dict[str, str] | None = None,
             method: str = "GET", host: str = "127.0.0.1", timeout: float = 30) -> Response:
    """One request on a fresh connection; `token` goes into the extension's token header."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.setdefault(TOKEN_HEADER, token)
        conn.request(method, path, headers=all_headers)
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def kept_alive_requests(port: int, method: str, path: str, count: int, body: bytes | None = None,
                        headers: dict[str, str] | None = None) -> list[tuple[float, Response]]:
    """`count` requests on one kept-alive connection: (seconds each took, its response). A server that sends
    headers and body in two writes with Nagle on shows here as ~40 ms per request (the client's delayed ACK)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            response = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
            out.append((time.perf_counter() - started, response))
    finally:
        conn.close()
    return out


def wait_until_serving(port: int, proc: subprocess.Popen | None = None, timeout: float = 30, path: str = "/") -> None:
    """Poll until anything answers HTTP on the port (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited early with {proc.returncode}")
        try:
            http_get(port, path, timeout=2)
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing served on port {port} within {timeout}s")


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
