"""The process: bind, register, serve, follow the lifecycle, exit cleanly.

Order matters for cold start: only stdlib runs before register; starlette,
uvicorn and aioboto3 are imported afterwards, while Lambda already runs the
function's own init. Without AWS_LAMBDA_RUNTIME_API the same program is a plain
local server (containers, ECS sidecars, development) until SIGTERM or SIGINT.
"""

from __future__ import annotations

import gc
import os
import sys
import time

from app import __version__, config, log
from app.lifecycle import EventInbox, ExtensionsApi, LifecycleError, events_for, pump_events, remaining_seconds
from app.listener import adopt, bind

# Kept back from the SHUTDOWN deadline for closing clients and exiting; the pump thread's watchdog
# (lifecycle.WATCHDOG_MARGIN_S) exits later still, should this orderly stop be held up.
SHUTDOWN_MARGIN_S = 0.3
SIGNAL_DRAIN_S = 5.0
INIT_HOLD_S = 3.0  # the longest INIT waits for the SDK or a prefetch: of Lambda's 10 s, shared with the function
# INIT counts as boosted when pscache's start-up ran this many times faster than the CPU share the function's
# memory buys for its invokes, or faster than BOOSTED_RATE of a CPU (see sdk_before_next).
BOOST_FACTOR = 2.0
BOOSTED_RATE = 0.3
MB_PER_VCPU = 1769


def _fail_init(api: ExtensionsApi | None, name: str, init_type: str, error_type: str, message: str) -> int:
    """Report a start-up failure through init/error (register first if needed), then exit non-zero."""
    log.error(message)
    if api is not None:
        try:
            if api.identifier is None:
                api.register(name, events_for(init_type))
            api.report_error("init", error_type, message)
        except LifecycleError as exc:
            log.error(f"could not report the failure to Lambda: {exc}")
    return 1


def main() -> int:
    if len(sys.argv) > 1:  # Lambda passes none: --version, --help, or a mistake (app/cli.py)
        from app import cli

        return cli.main(sys.argv[1:])
    # Start-up allocates hundreds of thousands of objects that live as long as the process: collecting them now
    # would only walk them again and again. Collection resumes, with them frozen out of it, once the SDK is in.
    gc.disable()
    env = os.environ
    runtime_api = config.runtime_api(env)
    api = ExtensionsApi(runtime_api) if runtime_api else None
    try:
        settings = config.load(env)
    except config.ConfigError as exc:
        name, init_type = config.extension_name(env, sys.argv[0]), config.init_type(env)
        return _fail_init(api, name, init_type, "Extension.ConfigInvalid", f"invalid configuration: {exc}")
    name = settings.extension_name
    log.set_level(settings.log_level)
    bundle_problem = config.ca_bundle_problem(settings.ca_bundle) if settings.upstream_tls else None
    if bundle_problem and api is not None:  # under Lambda, say so at INIT rather than fail every read
        return _fail_init(api, name, settings.init_type, "Extension.CaBundleInvalid", bundle_problem)
    try:
        sockets = bind(settings.port, shared=settings.workers > 1)
    except OSError as exc:
        return _fail_init(api, name, settings.init_type, "Extension.ListenFailed", str(exc))
    if api is not None:
        try:
            api.register(name, events_for(settings.init_type))
        except LifecycleError as exc:
            log.error(f"could not register with the Extensions API: {exc}")
            return 1
    addresses = " and ".join(_address(s) for s in sockets)
    log.info(f"pscache {__version__} serving on {addresses}" + (f", registered as {name!r}" if api else ""))
    for line in settings.warnings + ((bundle_problem,) if bundle_problem else ()):
        log.warn(line)
    for service, endpoint in settings.self_endpoints.items():
        log.info(f"{config.ENDPOINT_VARIABLES[service]} points at pscache: the function's SDK reads {service} through "
                 f"pscache, which calls {endpoint or 'AWS'} itself")
    if log.enabled("debug"):
        for variable, value in settings.sources:
            log.debug(f"{variable}={value}")
        log.debug("token source: " + _token_source(env))
    inbox = EventInbox()
    hold = False
    if api is not None:
        cpu_rate = startup_cpu_rate()
        hold = _prefetching(settings) or sdk_before_next(settings, cpu_rate)
        log.debug(f"start-up ran at {cpu_rate:.2f} CPU: INIT {'waits' if hold else 'does not wait'} for the AWS SDK")
    workers = None
    if settings.workers > 1:  # forked before the event thread (below) or any other thread starts
        from app import prebuilt, workers as hit_workers

        prebuilt.load()
        sockets, workers = hit_workers.start(settings, sockets)
    if api is not None and not hold:
        # INIT has nothing of pscache's to wait for: `next` at once, while the server and the SDK load
        # (requests wait in the listen backlog meanwhile).
        pump_events(api, inbox.put)
    from app import prebuilt

    prebuilt.load()  # the layer's compiled patterns and code, before the libraries that would compile them load
    import asyncio  # only now: everything before register is on the function's cold-start path

    loop = asyncio.new_event_loop()
    code = loop.run_until_complete(_serve(settings, sockets, api, inbox, hold, workers))
    sys.stdout.flush()
    # Skip interpreter teardown (task cancellation, GC of every module, executor joins): after
    # SHUTDOWN every millisecond counts against deadlineMs, and there is nothing left to save.
    os._exit(code)


def _address(sock) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _token_source(env) -> str:
    chain = "the session token of the credential chain's credentials"
    if env.get("AWS_SESSION_TOKEN"):
        return f"AWS_SESSION_TOKEN, or {chain}"
    if env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        return f"AWS_CONTAINER_AUTHORIZATION_TOKEN, or {chain}"
    return f"{chain} (no AWS_SESSION_TOKEN, no AWS_CONTAINER_AUTHORIZATION_TOKEN)"


def _prefetching(settings: config.Settings) -> bool:
    return bool(settings.prefetch) and settings.init_type != config.SNAP_START  # SnapStart prefetches later


def startup_cpu_rate() -> float:
    """CPU this process got per second since its exec: ~0.07 at 128 MB's share of a CPU, ~1 unthrottled."""
    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
    except (OSError, ValueError, IndexError):
        return 0.0
    elapsed = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    return time.process_time() / max(elapsed, 0.01)


def sdk_before_next(settings: config.Settings, cpu_rate: float) -> bool:
    """Whether INIT waits for the SDK import and both clients before the first `next` (at most INIT_HOLD_S).

    The CPU is the same either way; what differs is where it is spent. After `next` it runs during the first
    invoke, at the CPU share the function's memory buys (memory / 1769 of a CPU); before `next` it runs during
    INIT, which is never slower: boosted to about one CPU for on-demand environments, as community measurements
    report it, or at the same share. So waiting never delays the first value, and with a boost it brings it much
    sooner. What waiting costs is a longer INIT where INIT runs at the share: at small sizes seconds of it, near
    Lambda's 10 s limit, for a first value no sooner. So INIT does not wait only where pscache's start-up
    measurably ran at such a share (cpu_rate: the CPU it got per second since exec, at most BOOST_FACTOR times
    the share, and under BOOSTED_RATE; at larger sizes a short start-up cannot tell the share from the boost, and
    waiting costs INIT little there). Environments made ahead of traffic (provisioned concurrency, SnapStart,
    Managed Instances) always wait. docs/benchmarks.md has the measurements behind this rule."""
    if settings.sdk_load != "auto":
        return settings.sdk_load == "before-next"
    if settings.init_type in (config.PROVISIONED, config.SNAP_START, config.LMI):
        return True
    if not settings.memory_mb:
        return False
    share = min(settings.memory_mb / MB_PER_VCPU, float(os.cpu_count() or 1))
    return cpu_rate > min(BOOST_FACTOR * share, BOOSTED_RATE)


async def _serve(settings: config.Settings, sockets, api: ExtensionsApi | None, inbox: EventInbox,
                 hold: bool, workers=None) -> int:
    import asyncio
    import signal

    try:
        from app import lean_imports

        lean_imports.server_stack()  # before starlette and uvicorn load: what they import and pscache never uses
        from app.cache import Cache
        from app.held_credentials import HeldCredentials
        from app.loader import Loader
        from app.reads import Reads
        from app.serving import HttpServer
        from app.server import create_app
        from app.stats import Stats
        from app.upstream import Upstream
        from app.wire import WireFront

        stats = Stats()
        cache = Cache(settings.cache_size, settings.cache_max_bytes, settings.stale_if_error)
        # SnapStart: nothing fetched during INIT may end up in the snapshot.
        snap_start = settings.init_type == config.SNAP_START
        cache.storing = not snap_start
        upstream = Upstream(settings, stats)
        loader = Loader(settings, cache, Reads(settings, upstream), stats)
        held = HeldCredentials(upstream, settings.token)  # which tokens and signatures prove a caller local
        # POST / is the services' own protocol (app/wire.py); every other request is the 2773 API.
        front = WireFront(loader, upstream, held, create_app(settings, loader, held))
        limits = settings.limits
        if workers is not None:  # the hit workers answer from the cache's mirror, and count their hits in it
            from app.workers import owner_limits

            cache.mirror = loader.mirror = workers.mirror
            stats.elsewhere = workers.mirror.hits
            limits = owner_limits(limits, settings.workers)
        server = HttpServer(front, adopt(sockets), limits)
        await server.start()
    except Exception as exc:
        return _fail_init(
            api, settings.extension_name, settings.init_type, "Extension.StartFailed",
            f"start-up failed: {type(exc).__name__}: {exc}",
        )

    loop = asyncio.get_running_loop()
    if workers is not None:
        workers.watch(loop)
    events: asyncio.Queue = asyncio.Queue()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, events.put_nowait, {"eventType": "_SIGNAL", "signal": sig.name})
    # The SDK import (on a thread) and the clients overlap the function's init, and the loop keeps answering.
    warm = loop.create_task(_warm_start(upstream, loader, settings, prefetch=not snap_start))
    background = [warm]  # holds the tasks main starts, so none is garbage-collected mid-way
    if hold:
        # INIT ends once the clients are made and any prefetched values are in (or INIT_HOLD_S passed): Lambda
        # freezes the environment after INIT, and the first invoke's reads should be hits, not waits.
        done, _ = await asyncio.wait([warm], timeout=INIT_HOLD_S)
        if not done:
            log.warn(f"the AWS SDK{' and prefetch' if _prefetching(settings) else ''} still loading after "
                     f"{INIT_HOLD_S:.0f} s; finishing INIT anyway")
        pump_events(api, inbox.put)
    inbox.attach(lambda event: loop.call_soon_threadsafe(events.put_nowait, event))

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "local"
    code, budget, invokes = 0, SIGNAL_DRAIN_S, 0
    while True:
        event = await events.get()
        kind = str(event.get("eventType", "")).upper()
        if kind == "INVOKE":
            invokes += 1
            if not cache.storing:
                cache.storing = True
                log.debug("first INVOKE after a SnapStart init: caching from now on")
                if settings.prefetch:  # started before this loop yields, so the invoke's reads join it
                    started = loader.launch_prefetch(settings.prefetch)
                    background.append(loop.create_task(loader.report_prefetch(started, len(settings.prefetch))))
            loader.refresh_due()
            every = settings.metrics_every_invokes
            if settings.metrics_emf and every and invokes % every == 0:
                _emit(stats.emf_line(function_name))
            continue
        if kind == "SHUTDOWN":
            left = remaining_seconds(event.get("deadlineMs"))
            shown = f"{left * 1000:.0f} ms left" if left is not None else "no deadline given"
            log.info(f"SHUTDOWN ({event.get('shutdownReason', 'unknown')}), {shown}")
            budget = max(0.0, (left if left is not None else 1.0) - SHUTDOWN_MARGIN_S)
            break
        if kind == "_SIGNAL":
            log.info(f"{event['signal']} received, stopping")
            break
        if kind == "_FAILED":
            message = f"lost the Extensions API: {event['error']}"
            log.error(message)
            api.report_error("exit", "Extension.ApiFailure", message)
            code, budget = 1, 0.0
            break
    deadline = time.monotonic() + budget
    if workers is not None:
        workers.stop(deadline)
    await server.stop(budget)
    if workers is not None:
        await workers.wait(deadline)
    if settings.metrics_emf:
        _emit(stats.emf_line(function_name))
    # Upstream clients are not closed: the process exits next, and the OS closes their sockets.
    return code


def _emit(line: str) -> None:
    # A bare JSON line on stdout: CloudWatch Logs reads it as EMF and makes metrics of it, no API call.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _warm_start(upstream, loader, settings: config.Settings, prefetch: bool) -> None:
    try:
        # Imports the SDK on a thread, then makes both clients; no connection kept into a SnapStart snapshot.
        await upstream.warm(connect=settings.init_type != config.SNAP_START)
    except Exception as exc:  # the first read will try again and report what is wrong
        log.warn(f"could not prepare the AWS clients ahead of the first read: {type(exc).__name__}: {exc}")
        return
    finally:
        from app import prebuilt

        prebuilt.unload()  # start-up has compiled what it compiles
        # What start-up made lives for the whole process: keep it out of every later collection.
        gc.freeze()
        gc.enable()
    from app.prime import prime_front

    await prime_front(settings.port, settings.token)  # the first request's own first-run work
    if prefetch and settings.prefetch:
        await loader.prefetch(settings.prefetch)
