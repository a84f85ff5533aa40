"""PSCACHE_WORKERS > 1: hits answered on several cores, with one cache and one upstream call per key.

The owner (the process Lambda started; it registers and owns the lifecycle, the cache, the AWS clients) forks
workers - 1 hit workers once the server stack is imported and before any thread starts. Every process listens on
the one port with sockets of its own (SO_REUSEPORT: the kernel spreads new connections over them). A worker answers
fresh single reads from the mirror (app/mirror.py) and relays everything else to the owner's internal socket
(app/relay.py). The owner stops the workers within the SHUTDOWN deadline through a pipe each; a worker whose pipe
ends (the owner is gone, however it went) stops at once. A worker that dies is not replaced (forking a process
that runs threads is unsafe): the kernel gives its share of new connections to the others.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import os
import signal
import struct
import sys
import time

from app import config, listener, log

_DEADLINE = struct.Struct("<d")  # time.monotonic() by which a worker must have stopped


def share(limits: config.Limits, processes: int, times: int = 1) -> config.Limits:
    """limits with times one process's share of the inbound cap."""
    shared = copy.copy(limits)
    shared.max_connections = -(-limits.max_connections // processes) * times
    return shared


def owner_limits(limits: config.Limits, processes: int) -> config.Limits:
    """The owner's: its share of the clients, and a relay connection for each client connection of every worker."""
    return share(limits, processes, times=processes)


class Workers:
    """The owner's side: the mirror its cache publishes to, and the hit workers' processes."""

    def __init__(self, mirror, pids: list[int], pipes: list[int]):
        self.mirror = mirror
        self.pids = pids
        self._pipes = pipes
        self._stopping = False

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGCHLD, self._reap)

    def _reap(self) -> None:
        for pid in list(self.pids):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self.pids.remove(pid)
                if not self._stopping:
                    log.warn(f"hit worker {pid} exited ({_how(status)}); {len(self.pids) + 1} process(es) go on "
                             "serving")

    def stop(self, deadline: float) -> None:
        """Tell every worker to stop accepting and finish its requests by deadline (time.monotonic())."""
        self._stopping = True
        for fd in self._pipes:
            try:
                os.write(fd, _DEADLINE.pack(deadline))
                os.close(fd)
            except OSError:
                pass  # that worker is gone already
        self._pipes = []

    async def wait(self, deadline: float) -> None:
        """Wait for the workers to exit, at most until deadline; kill any still there."""
        while self.pids and time.monotonic() < deadline:
            self._reap()
            await asyncio.sleep(0.005)
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.pids:
            log.warn(f"{len(self.pids)} hit worker(s) still running at the shutdown deadline: killed")
        self._reap()


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"status {status}"


def start(settings: config.Settings, sockets: list) -> tuple[list, Workers]:
    """Fork the hit workers; the owner's sockets (its own share of the port, and the internal socket) and its
    handle on them. sockets must have been bound with listener.bind(shared=True)."""
    from app import lean_imports

    lean_imports.server_stack()
    from app.mirror import Mirror
    from app.serving import HttpServer  # noqa: F401  (imported here, once, for every process: fork shares it)
    from app.hit_worker import HitWorker  # noqa: F401
    from app.relay import Relay  # noqa: F401

    count = settings.workers
    mirror = Mirror(count)
    inner, address = listener.internal()
    groups = [listener.copies(sockets) for _ in range(count - 1)]
    stops = [os.pipe() for _ in groups]
    sys.stdout.flush()
    sys.stderr.flush()
    pids = []
    for process, (own, (read_end, _)) in enumerate(zip(groups, stops), start=1):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for sock in [*sockets, inner, *(s for g in groups if g is not own for s in g)]:
                    sock.close()
                for r, w in stops:
                    os.close(w)
                    if r != read_end:
                        os.close(r)
                limits = share(settings.limits, count)
                code = _worker(process, settings, own, mirror, address, read_end, limits)
            except BaseException as exc:  # never return into the owner's code
                log.error(f"hit worker {process} failed: {type(exc).__name__}: {exc}")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    for group in groups:
        for sock in group:
            sock.close()
    for r, _ in stops:
        os.close(r)
    log.info(f"{count} processes answer hits (the owner and {count - 1} hit worker(s): PSCACHE_WORKERS)")
    return [*sockets, inner], Workers(mirror, pids, [w for _, w in stops])


def _worker(process: int, settings: config.Settings, sockets: list, mirror, address: str, stop_fd: int,
            limits: config.Limits) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner decides when a worker stops (a terminal's Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # reaches the whole process group)
    from app import prebuilt

    prebuilt.unload()
    gc.freeze()  # what the owner imported: shared with it, kept out of collections (and copy-on-write)
    gc.enable()
    return asyncio.new_event_loop().run_until_complete(_serve(process, settings, sockets, mirror, address, stop_fd,
                                                              limits))


async def _serve(process: int, settings, sockets: list, mirror, address: str, stop_fd: int, limits) -> int:
    from app.hit_worker import HitWorker
    from app.relay import Relay
    from app.serving import HttpServer

    loop = asyncio.get_running_loop()
    relay = Relay(address, limits.max_connections, limits.idle_timeout_s)
    server = HttpServer(HitWorker(settings.token, mirror, process, relay), listener.adopt(sockets), limits)
    await server.start()
    stopped: asyncio.Future = loop.create_future()

    def on_stop() -> None:
        data = os.read(stop_fd, _DEADLINE.size)  # a deadline, or b"": the owner is gone
        loop.remove_reader(stop_fd)
        if not stopped.done():
            stopped.set_result(_DEADLINE.unpack(data)[0] if len(data) == _DEADLINE.size else time.monotonic())

    loop.add_reader(stop_fd, on_stop)
    deadline = await stopped
    await server.stop(deadline - time.monotonic())
    return 0
