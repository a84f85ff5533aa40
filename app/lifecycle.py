"""The Lambda Extensions API: register, event/next, init/error, exit/error.

A minimal HTTP/1.1 client on the builtin _socket module, on purpose: register
sits on the function's cold-start path (Lambda starts the runtime only once
every extension has registered), and http.client, json or even the socket
module cost more to import than the whole request takes.
"""

from __future__ import annotations

import _socket
import os
import time

from app import log
from app.config import LMI

API = "/2020-01-01/extension"
# The watchdog's exit comes this long before SHUTDOWN's deadline (main's own, orderly exit comes earlier).
WATCHDOG_MARGIN_S = 0.15


class LifecycleError(RuntimeError):
    pass


class ExtensionsApi:
    def __init__(self, runtime_api: str):
        host, _, port = runtime_api.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self.identifier: str | None = None

    def _request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict, bytes]:
        head = f"{method} {API}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        try:
            family, address = self._address()
            sock = _socket.socket(family, _socket.SOCK_STREAM, _socket.IPPROTO_TCP)
            try:
                sock.connect(address)
                sock.sendall(head.encode("latin-1") + body)
                # No timeout: `next` blocks until the next event, across freezes of any length.
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            finally:
                sock.close()
            return _parse_response(b"".join(chunks))
        except (OSError, ValueError) as exc:
            raise LifecycleError(f"{method} {path}: {exc}") from None

    def _address(self) -> tuple[int, tuple]:
        # An IP literal (what Lambda gives) skips getaddrinfo, whose idna codec would load
        # unicodedata on the cold-start path; a host name still resolves.
        for family in (_socket.AF_INET, _socket.AF_INET6):
            try:
                _socket.inet_pton(family, self.host)
                return family, (self.host, self.port)
            except OSError:
                continue
        family, _, _, _, address = _socket.getaddrinfo(self.host, self.port, 0, _socket.SOCK_STREAM)[0]
        return family, address

    def register(self, name: str, events: list[str]) -> None:
        body = ('{"events":[' + ",".join(f'"{e}"' for e in events) + "]}").encode()
        status, headers, payload = self._request(
            "POST",
            "/register",
            {"Lambda-Extension-Name": name, "Content-Type": "application/json"},
            body,
        )
        if status != 200:
            raise LifecycleError(f"register refused ({status}): {payload[:300].decode(errors='replace')}")
        self.identifier = headers.get("lambda-extension-identifier")
        if not self.identifier:
            raise LifecycleError("register answered without a Lambda-Extension-Identifier")

    def next_event(self) -> dict:
        status, _, payload = self._request("GET", "/event/next", {"Lambda-Extension-Identifier": self.identifier or ""})
        if status != 200:
            raise LifecycleError(f"event/next refused ({status}): {payload[:300].decode(errors='replace')}")
        import json  # loaded by then anyway; kept off the register path

        try:
            return json.loads(payload)
        except ValueError as exc:
            raise LifecycleError(f"event/next answered with invalid JSON: {exc}") from None

    def report_error(self, phase: str, error_type: str, message: str) -> None:
        """phase is 'init' or 'exit'. Lambda treats either as fatal; we exit afterwards."""
        import json

        body = json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []}).encode()
        try:
            self._request(
                "POST",
                f"/{phase}/error",
                {
                    "Lambda-Extension-Identifier": self.identifier or "",
                    "Lambda-Extension-Function-Error-Type": error_type,
                    "Content-Type": "application/json",
                },
                body,
            )
        except LifecycleError as exc:
            log.error(f"could not report {error_type}: {exc}")


def events_for(init_type: str) -> list[str]:
    # Managed Instances reject INVOKE subscriptions for external extensions.
    return ["SHUTDOWN"] if init_type == LMI else ["INVOKE", "SHUTDOWN"]


def _parse_response(raw: bytes) -> tuple[int, dict, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("incomplete HTTP response")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    return status, headers, body


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2 :]
    return b"".join(out)


class EventInbox:
    """Events from the Extensions API thread, for the event loop: the thread may start polling before the loop
    exists (INIT need not wait for pscache's server), so what comes first is kept until attach()."""

    def __init__(self):
        import threading

        self._lock = threading.Lock()
        self._early: list[dict] = []
        self._deliver = None

    def put(self, event: dict) -> None:
        with self._lock:
            if self._deliver is None:
                self._early.append(event)
                return
        self._deliver(event)

    def attach(self, deliver) -> None:
        """From now on events go to deliver(); the early ones first, in order."""
        with self._lock:
            for event in self._early:
                deliver(event)
            self._early.clear()
            self._deliver = deliver


def pump_events(api: ExtensionsApi, deliver):
    """Poll event/next on a daemon thread and hand each event (or failure) to deliver().

    The thread calls next again at once after INVOKE, so pscache never holds the
    invoke barrier. After SHUTDOWN it stays as a watchdog: should the orderly exit
    not have happened by shortly before the deadline, it ends the process itself.
    """

    def run() -> None:
        while True:
            try:
                event = api.next_event()
            except LifecycleError as exc:
                deliver({"eventType": "_FAILED", "error": str(exc)})
                return
            deliver(event)
            if str(event.get("eventType", "")).upper() == "SHUTDOWN":
                _exit_before(event.get("deadlineMs"))
                return

    import threading

    thread = threading.Thread(target=run, name="extensions-api", daemon=True)
    thread.start()
    return thread


def _exit_before(deadline_ms) -> None:
    """Exit 0 just before the SHUTDOWN deadline, whatever the event loop is stuck behind (on a slow CPU, a thread
    still importing the SDK can hold the interpreter for tens of milliseconds at a time): Lambda counts an
    extension killed at the deadline as failed."""
    left = remaining_seconds(deadline_ms)
    if left is None:
        return
    time.sleep(max(0.0, left - WATCHDOG_MARGIN_S))
    log.warn("SHUTDOWN deadline: exiting before the orderly stop finished")
    os._exit(0)


def remaining_seconds(deadline_ms, now_s: float | None = None) -> float | None:
    """Seconds left until an event's deadlineMs (epoch milliseconds), or None if absent."""
    try:
        deadline = float(deadline_ms)
    except (TypeError, ValueError):
        return None
    now = time.time() if now_s is None else now_s
    return deadline / 1000.0 - now
