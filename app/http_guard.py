"""uvicorn's h11 protocol with pscache's inbound limits (config.Limits).

uvicorn on its own leaves a connection that sends nothing, or one byte every
few seconds, open forever; answers an oversized head with a plain-text 400;
and accepts any number of connections. Here each of those is bounded and
answered with pscache's error answer, then closed without losing the answer.
"""

from __future__ import annotations

import http
import re
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app import log
from app.auth import send_error
from app.config import Limits
from app.errors import ApiError

# A timer this late means the process was frozen (Lambda freezes it between invokes) or the loop stalled:
# the wait restarts instead, so no connection is cut at the instant of a thaw, before its client could speak.
FREEZE_SLACK_S = 1.0
# After a refusal, keep reading (and dropping) for this long before closing: closing a socket with unread
# input sends a reset, which can destroy the answer before the client reads it.
LINGER_S = 2.0
_HEAD_END = re.compile(rb"\n\r?\n")
# The Accept header of a head h11 never parsed (refused for its size or form), for the error's form.
_ACCEPT = re.compile(rb"\naccept[ \t]*:([^\r\n]*)", re.IGNORECASE)
_WARN_EVERY_S = 10.0


def protocol_class(limits: Limits) -> type:
    """The protocol class for uvicorn.Config(http=...), bound to these limits."""
    return type("GuardedH11", (GuardedH11,), {"limits": limits})


class GuardedH11(H11Protocol):
    limits = Limits()
    _last_capacity_warning = 0.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._request_timer = None
        self._request_deadline = 0.0
        self._idle_deadline = 0.0
        self._refused = False
        self._head_seen = b""

    # -- connections ---------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            # The request is still read (bounded like any other), so the 429 reaches the client intact.
            self.app = _over_capacity(self.limits.max_connections)
            now = time.monotonic()
            if now - GuardedH11._last_capacity_warning > _WARN_EVERY_S:
                GuardedH11._last_capacity_warning = now
                log.warn(f"more than {self.limits.max_connections} inbound connections: answering 429")
        self._arm_idle()  # a connection that never sends a request is idle too

    def connection_lost(self, exc) -> None:
        self._cancel_request_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # dropping what a refused client still sends, until the linger ends
        if self.conn.their_state is h11.IDLE:
            refusal = self._check_head(data)
            if refusal is not None:
                self._refuse(refusal)
                return
            if self._request_timer is None:
                self._arm_request_timer(self.limits.request_timeout_s)
        super().data_received(data)
        if self._request_timer is not None and not self._request_pending():
            self._cancel_request_timer()

    def _should_upgrade(self) -> bool:
        # pscache speaks HTTP/1.1 only, and answers a request offering an Upgrade (Java's HttpClient offers h2c on
        # every plain-HTTP request by default; a websocket) over HTTP/1.1, as RFC 9110 section 7.8 lets a server
        # do. uvicorn would log two WARN lines per such request, one of them pip advice: nothing a Lambda user can
        # act on.
        if log.enabled("debug"):
            offered = self._get_upgrade()
            if offered is not None:
                log.debug(f"answered over HTTP/1.1 a request offering Upgrade: {offered.decode('latin-1')}")
        return False

    # -- size limits ---------------------------------------------------------
    def _check_head(self, data: bytes) -> ApiError | None:
        buffered = self._head_seen = self.conn.trailing_data[0] + data
        line_end = buffered.find(b"\n")
        line = line_end if line_end >= 0 else len(buffered)
        if line_end > 0 and buffered[line_end - 1] == 13:
            line -= 1  # the CR of CRLF is not part of the line
        if line > self.limits.max_request_line:
            return ApiError(414, "RequestLineTooLong", f"the request line exceeds {self.limits.max_request_line} bytes")
        end = _HEAD_END.search(buffered)
        head = end.start() if end else len(buffered)
        if head > self.limits.max_header_bytes:
            return ApiError(431, "HeadersTooLarge", f"the request head exceeds {self.limits.max_header_bytes} bytes")
        return None

    def send_400_response(self, msg: str) -> None:
        # uvicorn calls this for anything h11 cannot parse; answer in pscache's shape instead of plain text.
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            self.transport.close()  # mid-answer: nothing well-formed can follow
            return
        self._refuse(ApiError(400, "MalformedRequest", "the request is not valid HTTP/1.1"))

    def _refuse(self, err: ApiError) -> None:
        """Answer err directly on the socket (h11 has no request to answer), then close gently."""
        self._refused = True
        self._cancel_request_timer()
        self._unset_keepalive_if_required()
        if self.cycle is not None:
            self.cycle.disconnected = True  # a handler still running must not write after this
        if self.transport.is_closing():
            return
        accept = b",".join(m.group(1) for m in _ACCEPT.finditer(self._head_seen[: self.limits.max_header_bytes]))
        body, content_type = err.render(accept)
        extra = "".join(f"{k.lower()}: {v}\r\n" for k, v in err.response_headers().items())
        head = (
            f"HTTP/1.1 {err.status} {http.HTTPStatus(err.status).phrase}\r\n"
            f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n{extra}connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        try:
            self.transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            self.transport.close()
            return
        self.loop.call_later(LINGER_S, self.transport.close)

    # -- time limits ---------------------------------------------------------
    def _arm_idle(self) -> None:
        self._unset_keepalive_if_required()
        self._idle_deadline = self.loop.time() + self.timeout_keep_alive
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def on_response_complete(self) -> None:
        # A pipelined request that came in the same read as the previous one has not been size-checked yet.
        if self.conn.their_state is h11.DONE and self.conn.trailing_data[0] and not self.transport.is_closing():
            refusal = self._check_head(b"")
            if refusal is not None:
                self._refuse(refusal)
                return
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:
            self._idle_deadline = self.loop.time() + self.timeout_keep_alive

    def timeout_keep_alive_handler(self) -> None:
        if self.loop.time() - self._idle_deadline > FREEZE_SLACK_S:
            self._arm_idle()  # thawed: the client gets its full idle time again
            return
        super().timeout_keep_alive_handler()

    def _request_pending(self) -> bool:
        state = self.conn.their_state
        return state is h11.SEND_BODY or (state is h11.IDLE and bool(self.conn.trailing_data[0]))

    def _arm_request_timer(self, seconds: float) -> None:
        self._request_deadline = self.loop.time() + seconds
        self._request_timer = self.loop.call_later(seconds, self._request_timed_out)

    def _cancel_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing() or self._refused:
            return
        if self.loop.time() - self._request_deadline > FREEZE_SLACK_S:
            self._arm_request_timer(self.limits.request_timeout_s)
            return
        if self.conn.their_state is h11.IDLE:
            seconds = self.limits.request_timeout_s
            self._refuse(ApiError(408, "RequestTimeout", f"the request was not received within {seconds} s"))
        elif self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # its body still trickles in: close once it is answered
        else:
            self.transport.close()


def _over_capacity(limit: int):
    err = ApiError(
        429, "TooManyConnections", f"pscache already has {limit} open connections; retry shortly",
        {"Connection": "close"},
    )

    async def app(scope, receive, send):
        await send_error(send, err, scope["headers"])

    return app
