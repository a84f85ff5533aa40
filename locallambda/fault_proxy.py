"""A loopback HTTP proxy between pscache and moto that counts and breaks calls.

pscache's AWS_ENDPOINT_URL points here, so every upstream call is visible
(the cache tests count them) and can be answered with a fault instead:
throttling, a 5xx, a delay, a connection reset, or any AWS error code.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    kind: str  # "error", "delay", "reset", "garbage", "truncate"
    status: int = 400
    code: str = ""
    message: str = ""
    seconds: float = 0.0


def error(status: int, code: str, message: str = "injected by the test proxy") -> Fault:
    return Fault("error", status=status, code=code, message=message)


def throttle() -> Fault:
    return error(400, "ThrottlingException", "Rate exceeded")


def delay(seconds: float) -> Fault:
    return Fault("delay", seconds=seconds)


def reset() -> Fault:
    return Fault("reset")


def expired() -> Fault:
    """The session credentials ran out (STS answers this way for an expired AWS_SESSION_TOKEN)."""
    return error(400, "ExpiredTokenException", "The security token included in the request is expired")


def garbage() -> Fault:
    """A 200 whose body is not the JSON the SDK expects (a broken middlebox, a wrong endpoint)."""
    return Fault("garbage")


def truncate() -> Fault:
    """Headers promise a body, then the connection closes part-way through it."""
    return Fault("truncate")


def _query_action(body: bytes) -> str:
    """The Action of an AWS query-protocol request (a form body), or ""."""
    from urllib.parse import parse_qs

    try:
        return parse_qs(body.decode("ascii")).get("Action", [""])[0]
    except (UnicodeDecodeError, ValueError):
        return ""


class RateLimit:
    """A token bucket shared by several operations, as Parameter Store's quota is: `rate` calls per second, at most
    `burst` at once; a call finding it empty is answered ThrottlingException and takes no token."""

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = rate if burst is None else burst
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def take(self, now: float | None = None) -> bool:
        """now: the time in the clock's seconds (the fleet model passes simulated time); default the clock's."""
        now = self._clock() if now is None else now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class FaultProxy:
    """tls: an SSLContext (locallambda.tls.server_context) makes it an HTTPS endpoint, as AWS's are."""

    def __init__(self, upstream_port: int, tls=None):
        self.upstream_port = upstream_port
        self.calls: Counter[str] = Counter()
        self.last_body: dict[str, bytes] = {}  # operation -> the body of its latest call (what a client sent)
        self.throttled: Counter[str] = Counter()  # answered ThrottlingException by a rate limit (see limit())
        self._limits: dict[str, RateLimit] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._sticky: dict[str, Fault] = {}
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections: set[tuple] = set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two sends; with Nagle on, a kept-alive client's delayed ACK adds ~40 ms
            # to every call, which real AWS endpoints do not.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output quiet
                pass

            def setup(self):
                if tls is not None:  # the handshake runs in this connection's own thread
                    self.request = tls.wrap_socket(self.request, server_side=True)
                super().setup()

            def do_POST(self):
                proxy._handle(self)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # -- test API ---------------------------------------------------------
    def reset_state(self) -> None:
        with self._lock:
            self.calls.clear()
            self.last_body.clear()
            self.throttled.clear()
            self._limits.clear()
            self._faults.clear()
            self._sticky.clear()
            self.max_in_flight = 0
            self.connections.clear()

    def inject(self, operation: str, *faults: Fault) -> None:
        """Answer the next len(faults) calls of operation (e.g. 'GetParameter') with these faults."""
        with self._lock:
            self._faults.setdefault(operation, []).extend(faults)

    def always(self, operation: str, fault: Fault) -> None:
        with self._lock:
            self._sticky[operation] = fault

    def limit(self, operations: tuple[str, ...], rate: float, burst: float | None = None) -> None:
        """Throttle these operations together beyond rate calls per second (one bucket for all of them)."""
        bucket = RateLimit(rate, burst)
        with self._lock:
            for operation in operations:
                self._limits[operation] = bucket

    def count(self, operation: str) -> int:
        with self._lock:
            return self.calls[operation]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- proxying ---------------------------------------------------------
    def _next_fault(self, operation: str) -> Fault | None:
        with self._lock:
            self.calls[operation] += 1
            queued = self._faults.get(operation)
            if queued:
                return queued.pop(0)
            bucket = self._limits.get(operation)
            if bucket is not None and not bucket.take():
                self.throttled[operation] += 1
                return throttle()
            return self._sticky.get(operation)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.connections.add(handler.client_address)
        try:
            self._forward(handler)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        target = handler.headers.get("X-Amz-Target", "")
        action = "" if target else _query_action(body)  # STS speaks the query protocol: Action= in a form body
        operation = target.rpartition(".")[2] or action or "unknown"
        with self._lock:
            self.last_body[operation] = body
        fault = self._next_fault(operation)
        if fault is not None and fault.kind == "reset":
            # SO_LINGER 0 makes close() send RST: the client sees a reset, not a clean EOF.
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "garbage":
            self._reply(handler, 200, {"Content-Type": "application/x-amz-json-1.1"}, b"<html>not json</html>")
            return
        if fault is not None and fault.kind == "truncate":
            try:
                handler.send_response(200)
                handler.send_header("Content-Type", "application/x-amz-json-1.1")
                handler.send_header("Content-Length", "1000")
                handler.end_headers()
                handler.wfile.write(b'{"Parameter": {"Na')
                handler.wfile.flush()
            except OSError:
                pass
            handler.close_connection = True
            return
        if fault is not None and fault.kind == "error" and action:
            payload = ("<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
                       "<RequestId>fault-proxy</RequestId></ErrorResponse>" % (fault.code, fault.message)).encode()
            self._reply(handler, fault.status, {"Content-Type": "text/xml"}, payload)
            return
        if fault is not None and fault.kind == "error":
            payload = ('{"__type":"%s","message":"%s"}' % (fault.code, fault.message)).encode()
            self._reply(handler, fault.status, {"Content-Type": "application/x-amz-json-1.1"}, payload)
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            passed = {k: v for k, v in response.getheaders() if k.lower() in ("content-type", "x-amzn-requestid")}
            self._reply(handler, response.status, passed, data)
        finally:
            conn.close()

    @staticmethod
    def _reply(handler, status: int, headers: dict, body: bytes) -> None:
        try:
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (its own timeout); nothing to answer
