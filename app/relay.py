"""A hit worker's way to the owner: the request as it came, over the owner's internal socket, and its answer back.

Everything a worker does not answer from the mirror (misses, expired entries, batches, refreshNow, the wire front,
invalidation, stats, every error) is answered by the owner, so its single flight makes one upstream call per key
for the whole environment. Connections to the owner are kept alive and reused: at most one per client connection of
the worker (each has one request in flight at a time), so relayed requests queue at the owner beside its own
clients' as equals, not behind a smaller pool.
"""

from __future__ import annotations

import asyncio
import time

import h11

from app import log
from app.errors import ApiError, accept_of

# Hop-by-hop headers, and the body's framing, which the relayed request sets itself.
_NOT_RELAYED = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
                b"upgrade", b"expect", b"content-length"}
_NOT_RETURNED = {b"connection", b"keep-alive", b"transfer-encoding", b"date"}  # the worker's server sets these


class OwnerGone(Exception):
    pass


class Relay:
    def __init__(self, address: str, limit: int, idle_timeout_s: float):
        self.address = address  # the owner's internal AF_UNIX socket (abstract: no file)
        self.limit = limit  # connections to the owner at once: the worker's own inbound cap
        # The owner closes a connection idle this long (PSCACHE_IDLE_TIMEOUT_SECONDS): one kept half as long is
        # closed here instead of being found closed by a request.
        self.keep_s = idle_timeout_s / 2
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []  # last one: when it idled
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if body is None:
            return  # the client went away
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            try:
                status, headers, answer = await self._exchange(scope, body)
            except OwnerGone as exc:
                log.error(f"hit worker: the owner process did not answer: {exc}")
                err = ApiError(503, "OwnerUnavailable", "pscache's owner process did not answer; retry shortly")
                answer, content_type = err.render(accept_of(scope["headers"]))
                status, headers = 503, [(b"content-type", content_type.encode())]
        headers = [(k, v) for k, v in headers if k.lower() not in _NOT_RETURNED]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _exchange(self, scope, body: bytes) -> tuple[int, list, bytes]:
        target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        headers = [(k, v) for k, v in scope["headers"] if k not in _NOT_RELAYED]
        if not any(k == b"host" for k, _ in headers):
            headers.append((b"host", b"localhost"))  # an HTTP/1.0 client may send none; h11 needs one
        headers.append((b"content-length", str(len(body)).encode()))
        request = h11.Request(method=scope["method"], target=target, headers=headers)
        kept = self._kept()
        try:
            return await self._once(*(kept or await self._connect()), request, body)
        except (OSError, EOFError, h11.ProtocolError) as exc:
            if kept is None:
                raise OwnerGone(f"{type(exc).__name__}: {exc}") from None
        # A kept-alive connection the owner had closed fails before any answer: send once more, on a new one
        # (every relayed request is safe to send twice: reads, invalidation, stats).
        try:
            return await self._once(*await self._connect(), request, body)
        except (OSError, EOFError, h11.ProtocolError) as exc:
            raise OwnerGone(f"{type(exc).__name__}: {exc}") from None

    def _kept(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The most recently used kept-alive connection; None, closing them all, when even it was kept too long."""
        if self._idle and time.monotonic() - self._idle[-1][2] < self.keep_s:
            reader, writer, _ = self._idle.pop()
            return reader, writer
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()
        return None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.open_unix_connection(self.address)
        except OSError as exc:
            raise OwnerGone(str(exc)) from None

    async def _once(self, reader, writer, request, body: bytes) -> tuple[int, list, bytes]:
        try:
            return await self._exchange_on(reader, writer, request, body)
        except BaseException:
            writer.close()
            raise

    async def _exchange_on(self, reader, writer, request, body: bytes) -> tuple[int, list, bytes]:
        conn = h11.Connection(h11.CLIENT)
        writer.write(conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        status, headers, parts = 0, [], []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                if not data:
                    raise EOFError("the owner closed the connection before its answer was complete")
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            self._idle.append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return status, headers, b"".join(parts)


async def _body(receive) -> bytes | None:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)
