"""The Lambda Extensions API: register, event/next, init/error, exit/error.

Plain http.client on purpose: register sits on the function's cold-start path
(Lambda starts the runtime only once every extension has registered), so it
must not wait for aiohttp, botocore or uvicorn to import.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

from app import log

API = "/2020-01-01/extension"


class LifecycleError(RuntimeError):
    pass


class ExtensionsApi:
    def __init__(self, runtime_api: str):
        host, _, port = runtime_api.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self.identifier: str | None = None

    def _request(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
        # No timeout: `next` blocks until the next event, across freezes of any length.
        conn = http.client.HTTPConnection(self.host, self.port, timeout=None)
        try:
            conn.request(method, API + path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise LifecycleError(f"{method} {path}: {exc}") from None
        finally:
            conn.close()

    def register(self, name: str, events: list[str]) -> dict:
        body = json.dumps({"events": events}).encode()
        status, headers, payload = self._request(
            "POST",
            "/register",
            {"Lambda-Extension-Name": name, "Content-Type": "application/json"},
            body,
        )
        if status != 200:
            raise LifecycleError(f"register refused ({status}): {payload[:300].decode(errors='replace')}")
        lowered = {k.lower(): v for k, v in headers.items()}
        self.identifier = lowered.get("lambda-extension-identifier")
        if not self.identifier:
            raise LifecycleError("register answered without a Lambda-Extension-Identifier")
        return json.loads(payload or b"{}")

    def next_event(self) -> dict:
        status, _, payload = self._request("GET", "/event/next", {"Lambda-Extension-Identifier": self.identifier or ""})
        if status != 200:
            raise LifecycleError(f"event/next refused ({status}): {payload[:300].decode(errors='replace')}")
        return json.loads(payload)

    def report_error(self, phase: str, error_type: str, message: str) -> None:
        """phase is 'init' or 'exit'. Lambda treats either as fatal; we exit afterwards."""
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
    return ["SHUTDOWN"] if init_type == "lambda-managed-instances" else ["INVOKE", "SHUTDOWN"]


def pump_events(api: ExtensionsApi, deliver) -> threading.Thread:
    """Poll event/next on a daemon thread and hand each event (or failure) to deliver().

    The thread calls next again at once after INVOKE, so pscache never holds the
    invoke barrier; it stops after SHUTDOWN.
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
                return

    thread = threading.Thread(target=run, name="extensions-api", daemon=True)
    thread.start()
    return thread


def remaining_seconds(deadline_ms, now_s: float | None = None) -> float | None:
    """Seconds left until an event's deadlineMs (epoch milliseconds), or None if absent."""
    try:
        deadline = float(deadline_ms)
    except (TypeError, ValueError):
        return None
    now = time.time() if now_s is None else now_s
    return deadline / 1000.0 - now
