"""A hit worker's way to the owner: the request as it came, over the owner's internal socket, and its answer back.

Everything a worker does not answer from the mirror (misses, expired entries, batches, refreshNow, the wire front,
invalidation, stats, every error) is answered by the owner, so its single flight makes one upstream call per key
for the whole environment. Connections to the owner are kept alive and reused: at most one per client connection of
the worker (each has one request in flight at a time), so relayed requests queue at the owner beside its own
clients' as equals, not behind a smaller pool.
"""

from __future__ import annotations

import asyncio

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
    def __init__(self, address: str, limit: int):
        self.address = address  # the owner's internal AF_UNIX socket (abstract: no file)
        self.limit = limit  # connections to the owner at once: the worker's own inbound cap
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
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
        for attempt in (1, 2):
            reused = bool(self._idle)
            try:
                reader, writer = self._idle.pop() if reused else await asyncio.open_unix_connection(self.address)
            except OSError as exc:
                raise OwnerGone(str(exc)) from None
            try:
                return await self._once(reader, writer, request, body)
            except (OSError, EOFError, h11.ProtocolError) as exc:
                writer.close()
                # A kept-alive connection the owner closed as idle fails before any answer: send once more on a
                # new one (every relayed request is safe to send twice: reads, invalidation, stats).
                if not reused or attempt == 2:
                    raise OwnerGone(f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    async def _once(self, reader, writer, request, body: bytes) -> tuple[int, list, bytes]:
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
            self._idle.append((reader, writer))
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
