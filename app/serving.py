"""The uvicorn server on pscache's pre-bound sockets, with a shutdown that fits Lambda's deadline."""

from __future__ import annotations

import asyncio
import logging

from app import log

# Descriptors kept beyond the inbound cap: listening sockets, upstream connections, files the SDK opens.
FD_RESERVE = 64


class _ToLog(logging.Handler):
    """uvicorn reports protocol problems through logging; keep them on our one-line format.

    Its warnings are about one client's request (not valid HTTP/1.1, say), which gets its own error answer: a
    client's business, at DEBUG. Its errors are a fault of pscache's, at ERROR."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return  # a request we cut at the shutdown deadline; already counted in stop()
        if record.levelno >= logging.ERROR:
            log.error(f"http: {record.getMessage()}")
        elif log.enabled("debug"):
            log.debug(f"http: {record.getMessage()}")


def _loop_error(loop, context: dict) -> None:
    """asyncio's own reports (e.g. accept() failing with EMFILE; it retries after 1 s) as one line, not a traceback."""
    exc = context.get("exception")
    detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
    log.error(f"event loop: {context.get('message', 'error')}{detail}")


class HttpServer:
    def __init__(self, app, sockets: list, limits=None):
        from app import lean_imports

        lean_imports.server_stack()
        import uvicorn.config
        import uvicorn.server

        from app.config import Limits
        from app.http_guard import protocol_class

        limits = limits or Limits()
        allow_descriptors(limits.max_connections + FD_RESERVE)

        uv_logger = logging.getLogger("uvicorn.error")
        uv_logger.handlers[:] = [_ToLog()]
        uv_logger.setLevel(logging.WARNING)
        uv_logger.propagate = False
        self.sockets = sockets
        self.config = uvicorn.config.Config(
            app=app,  # the object, not "module:app": a compiled build has no import strings
            http=protocol_class(limits),  # a class, not a string: nothing for a compiled build to resolve
            timeout_keep_alive=limits.idle_timeout_s,
            # h11's own bound on a head still arriving; the guard checks complete heads as well.
            h11_max_incomplete_event_size=limits.max_header_bytes,
            ws="none",
            lifespan="off",
            interface="asgi3",
            loop="none",
            log_config=None,
            access_log=False,
            server_header=False,
        )
        self.config.load()
        self.server = uvicorn.server.Server(self.config)
        self._ticker: asyncio.Task | None = None

    async def start(self) -> None:
        asyncio.get_running_loop().set_exception_handler(_loop_error)
        self.server.lifespan = self.config.lifespan_class(self.config)
        await self.server.startup(sockets=self.sockets)
        self._ticker = asyncio.create_task(self._tick())

    async def _tick(self) -> None:
        # uvicorn refreshes its Date header from its own main loop, which we do not run.
        while True:
            await self.server.on_tick(0)
            await asyncio.sleep(1)

    async def stop(self, budget_s: float) -> None:
        """Stop accepting, let in-flight requests finish within budget_s, then cut the rest."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(budget_s, 0.0)
        if self._ticker:
            self._ticker.cancel()
        # Accept what already waits in the backlog (closing the listener would reset it), then let
        # fresh connections read their request: uvicorn treats a connection without one as idle.
        await asyncio.sleep(0)
        for server in self.server.servers:
            server.close()
        await asyncio.sleep(0.01)
        state = self.server.server_state
        # Idle keep-alive connections close now; busy ones right after their response.
        for connection in list(state.connections):
            connection.shutdown()
        while (state.tasks or state.connections) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        for task in list(state.tasks):
            task.cancel()
        for connection in list(state.connections):
            connection.transport.close()
        left = [t for t in state.tasks if not t.done()]
        if left:
            log.warn(f"cut {len(left)} request(s) still running at the shutdown deadline")


def allow_descriptors(wanted: int) -> int:
    """Raise the soft limit on open files toward `wanted` (within the hard limit), so the inbound connection cap can
    be reached: past the soft limit accept() fails, and clients wait instead of getting an answer. Returns the
    limit in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if new < wanted:
        log.warn(f"the open-file limit is {new}: fewer than the {wanted - FD_RESERVE} inbound connections "
                 "PSCACHE_MAX_INBOUND_CONNECTIONS allows; set it lower, or raise the limit")
    return max(new, soft)
