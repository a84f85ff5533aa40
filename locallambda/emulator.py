"""A faithful local emulator of the Lambda execution environment, for testing external extensions.

It reproduces what an executable at /opt/extensions/<name> lives under, following
/work/shared/spec/lambda-lifecycle.md (§1 API and error strings, §2 lifecycle, §5 acceptance list):

* one HTTP server on 127.0.0.1:<ephemeral> serving the Extensions API (2020-01-01), a minimal Runtime API
  (2018-06-01) and, in SnapStart mode, the container credentials API (2021-04-23), whose credentials a restore()
  replaces;
* a launcher that executes every non-directory entry of an extensions folder in its own process group;
* init (all extensions register -> runtime init -> everyone calls next), invoke with the barrier
  (runtime responded AND every INVOKE subscriber called next again), freeze/thaw, crash detection, reset on
  failure or timeout, and shutdown with a deadline and SIGKILL;
* sized environments (sized=True): the environment in a cgroup with Lambda's CPU share of memory_mb and memory_mb
  as its memory limit (locallambda.sized), frozen through the cgroup freezer, out of memory reported as
  Runtime.OutOfMemory, INIT at the share or boosted to one CPU (init_cpu), and Lambda's REPORT figures per invoke
  (locallambda.report). evict_paths makes a cold start start cold: those files, the extensions and the runtime
  leave the page cache before each init.

Only the standard library is used. Typical use::

    with LambdaEmulator(ext_dir, env={"AWS_SESSION_TOKEN": "t"}) as emu:
        assert emu.init().ok
        res = emu.invoke(handler=lambda event, ctx: {"ok": True})
        assert res.ok and res.post_runtime_extensions_ms < 50
        assert emu.shutdown().extensions["pscache"].state == "Exited"

    with LambdaEmulator(ext_dir, runtime=["./bootstrap"], sized=True, memory_mb=128, init_cpu="boost") as emu:
        print(emu.invoke().report.line())  # REPORT RequestId: ... Max Memory Used: 71 MB Init Duration: ...

An in-process handler or runtime_init runs in the emulator's own process, outside any cgroup: in a sized
environment only the launched processes are constrained.

All timestamps (events, t_exec, t_register, ...) come from time.perf_counter().
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from locallambda import pagecache, procstat, sized as sizing
from locallambda.report import MIB, ProcessFigures, Report

clock = time.perf_counter

EXT_API = "/2020-01-01/extension"
RUNTIME_API = "/2018-06-01/runtime"
CREDENTIALS_PATH = "/2021-04-23/credentials"

ON_DEMAND = "on-demand"
PROVISIONED = "provisioned-concurrency"
SNAP_START = "snap-start"
LMI = "lambda-managed-instances"
MODES = (ON_DEMAND, PROVISIONED, SNAP_START, LMI)

INVOKE = "INVOKE"
SHUTDOWN = "SHUTDOWN"

# Extension states (RIE core/externalagent_states.go).
STARTED, REGISTERED, READY, RUNNING = "Started", "Registered", "Ready", "Running"
INIT_ERROR, EXIT_ERROR, LAUNCH_ERROR = "InitError", "ExitError", "LaunchError"
EXITED, SHUTDOWN_FAILED = "Exited", "ShutdownFailed"

# errorType strings of the API's 403 answers (spec §1.3).
E_INVALID_NAME = "Extension.InvalidExtensionName"
E_REQUEST_FORMAT = "InvalidRequestFormat"
E_EVENT_TYPE = "Extension.InvalidEventType"
E_STATE = "Extension.InvalidExtensionState"
E_REGISTRATION_CLOSED = "Extension.RegistrationClosed"
E_TOO_MANY = "Extension.TooManyExtensions"
E_ID_MISSING = "Extension.MissingExtensionIdentifier"
E_ID_INVALID = "Extension.InvalidExtensionIdentifier"
E_ID_UNKNOWN = "Extension.UnknownExtensionIdentifier"
E_MISSING_HEADER = "Extension.MissingHeader"
E_INTERNAL = "InternalServerError"

# Fatal error types (RIE fatalerror/fatalerror.go), plus the ones the emulator reports for the runtime and timeouts.
F_INIT_ERROR = "Extension.InitError"
F_EXIT_ERROR = "Extension.ExitError"
F_CRASH = "Extension.Crash"
F_LAUNCH_ERROR = "Extension.LaunchError"
F_RUNTIME_EXIT = "Runtime.ExitError"
F_RUNTIME_UNKNOWN = "Runtime.Unknown"
F_RUNTIME_ENTRYPOINT = "Runtime.InvalidEntrypoint"
F_TIMEOUT = "Sandbox.Timedout"
F_OUT_OF_MEMORY = "Runtime.OutOfMemory"
LAMBDA_MEMORY_MB = (128, 10240)  # the memory sizes Lambda accepts

# Variables only the runtime sees (spec §2.5); RIE also strips every "_*" key from the extensions' environment.
RUNTIME_ONLY_VARS = frozenset({
    "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_XRAY_CONTEXT_MISSING",
    "AWS_XRAY_DAEMON_ADDRESS", "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT", "_AWS_XRAY_DAEMON_ADDRESS",
    "_AWS_XRAY_DAEMON_PORT", "_HANDLER",
})
STATIC_CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000


# Safety net: an emulator a test forgot to close still kills its processes when the interpreter exits.
_LIVE: weakref.WeakSet = weakref.WeakSet()
atexit.register(lambda: [emu.close() for emu in list(_LIVE)])


# --------------------------------------------------------------------------------------------------------------
# Results


@dataclass
class FatalError:
    """An error that ends the sandbox (init fails or a reset follows). `posted_type` is what the extension or
    runtime sent in its error-type header, `body` its parsed error body."""

    who: str
    error_type: str
    message: str = ""
    posted_type: str | None = None
    body: Any = None
    generation: int = 0


@dataclass
class InitResult:
    ok: bool
    generation: int
    duration_ms: float
    error_type: str | None = None  # the posted error type if any, else the fatal category
    fatal_error: str | None = None  # Extension.InitError / Extension.Crash / Extension.LaunchError / ...
    message: str = ""
    timed_out: bool = False
    t_start: float = 0.0  # perf_counter when the environment began (the first launch)


@dataclass
class ExtensionExit:
    name: str
    state: str  # Exited (exit 0 before the deadline) or ShutdownFailed; an earlier error state is kept
    exit_code: int | None
    exit_ms: float | None  # from sending SHUTDOWN (or from the kill, for non-subscribers) to the process exit
    subscribed: bool


@dataclass
class ShutdownResult:
    reason: str  # as sent in shutdownReason
    deadline_ms: int
    event: dict
    extensions: dict[str, ExtensionExit]
    runtime_exit_code: int | None
    duration_ms: float

    @property
    def states(self) -> dict[str, str]:
        return {name: e.state for name, e in self.extensions.items()}


@dataclass
class InvokeResult:
    ok: bool
    request_id: str | None = None
    response: Any = None  # the handler's return value, or the runtime's response (JSON-decoded when possible)
    response_raw: bytes = b""
    function_error: str | None = None  # handler exception / runtime invocation/error type; not fatal
    error_type: str | None = None  # fatal: Extension.Crash, Sandbox.Timedout, the init error, ...
    fatal_error: str | None = None
    timed_out: bool = False
    duration_ms: float | None = None  # event sent -> runtime response
    post_runtime_extensions_ms: float | None = None  # runtime response -> every subscriber back in next
    total_ms: float | None = None  # invoke() call -> barrier (includes init and thaw delay)
    event: dict | None = None  # the INVOKE event the extensions got
    init: InitResult | None = None  # set when this invoke had to (re)initialise the sandbox
    reset: ShutdownResult | None = None  # set when this invoke ended in a reset
    report: Report | None = None  # Lambda's REPORT figures of this invoke
    cpu_ms_at_response: dict[str, float] | None = None  # each process's CPU when the runtime responded


@dataclass
class InvokeContext:
    """The `context` argument of a Python handler, shaped like the Lambda Python runtime's."""

    aws_request_id: str
    deadline_ms: int
    invoked_function_arn: str
    function_name: str
    function_version: str
    memory_limit_in_mb: int

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - epoch_ms())


class ApiError(Exception):
    """An API answer other than success: RIE's JSON body {"errorMessage", "errorType"}, 403 by default."""

    def __init__(self, error_type: str, message: str, status: int = 403):
        super().__init__(message)
        self.error_type, self.message, self.status = error_type, message, status


# --------------------------------------------------------------------------------------------------------------
# State


class Agent:
    """One extension: external (a launched file, identified by its basename) or internal (registered by a name
    that matches no launched file, e.g. a thread of the runtime)."""

    def __init__(self, name: str, external: bool, path: str | None = None):
        self.name, self.external, self.path = name, external, path
        self.id: str | None = None
        self.events: list[str] = []
        self.state = STARTED
        self.queue: collections.deque[dict] = collections.deque()  # events waiting for its next call
        self.proc: subprocess.Popen | None = None
        self.log_path: str | None = None
        self.watcher: threading.Thread | None = None
        self.killed = False  # we SIGKILLed it on purpose, so its exit is not a crash
        self.error_type: str | None = None  # the posted init/exit error type, or the launch error
        self.error_body: Any = None
        self.exit_code: int | None = None
        self.exit_ms: float | None = None
        self.t_exec = self.t_register = self.t_first_next = self.t_exit = None
        self.t_shutdown_sent: float | None = None
        self.leaf: sizing.Leaf | None = None  # its cgroup in a sized environment
        self.cpu_ms_at_register: float | None = None  # sized: CPU used from exec to its register request

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.t_exit is None

    def __repr__(self) -> str:
        return f"<Agent {self.name} {'ext' if self.external else 'int'} {self.state} events={self.events}>"


class Sandbox:
    """One execution environment, i.e. one init. A reset discards it and the next invoke builds a new one."""

    def __init__(self, generation: int):
        self.generation = generation
        self.agents: list[Agent] = []
        self.registration_open = True
        self.fatal: FatalError | None = None
        self.abort_at = 0.0  # waiters give up at this time once `fatal` is set (a grace lets the poster exit)
        self.shutting_down = False
        self.dead = False
        self.frozen = False
        self.groups_killed = False
        # Runtime side.
        self.rt_proc: subprocess.Popen | None = None
        self.rt_watcher: threading.Thread | None = None
        self.rt_initialised = False  # first invocation/next seen, or runtime_init returned
        self.rt_ready = False  # blocked in invocation/next
        self.rt_error_posted = False
        self.rt_pending: dict | None = None  # invocation not yet picked up by the runtime
        self.rt_current: str | None = None  # request id the runtime is working on
        self.rt_result: tuple[str, bytes, str | None] | None = None  # (response|error, body, error type)
        self.rt_exit_code: int | None = None
        self.rt_leaf: sizing.Leaf | None = None
        # Sized environments: the cgroup, OOM kills already reported, the largest anon/file RSS sampled (KiB).
        self.cgroup: sizing.Environment | None = None
        self.oom_seen = 0
        self.rss_max: dict[str, list[int]] = {}
        self.cpu_at_response: dict[str, float] | None = None

    def externals(self) -> list[Agent]:
        return [a for a in self.agents if a.external]

    def by_id(self, ident: str) -> Agent | None:
        return next((a for a in self.agents if a.id == ident), None)

    def by_name(self, name: str, external: bool) -> Agent | None:
        return next((a for a in self.agents if a.name == name and a.external == external), None)

    def processes(self) -> list[subprocess.Popen]:
        procs = [a.proc for a in self.agents if a.proc is not None]
        return procs + ([self.rt_proc] if self.rt_proc is not None else [])

    def named_processes(self) -> list[tuple[str, subprocess.Popen, sizing.Leaf | None]]:
        """(name, process, its cgroup) of the runtime ("runtime") and every launched extension."""
        named = [(a.name, a.proc, a.leaf) for a in self.agents if a.proc is not None]
        return ([("runtime", self.rt_proc, self.rt_leaf)] if self.rt_proc is not None else []) + named


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    # Every child runs in its own session, so its pid is its process-group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# --------------------------------------------------------------------------------------------------------------
# HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, emulator: LambdaEmulator):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.emulator = emulator

    def handle_error(self, request, client_address) -> None:
        # A process the emulator killed (reset, OOM, shutdown) drops its connection mid-request: no news.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients such as Go's and hyper's expect
    server_version = "LambdaEmulator"
    # Headers and body go out in two sends; with Nagle on, the body waits ~40 ms for the client's delayed ACK,
    # which would add 40 ms to every event a runtime or extension receives.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        try:
            status, payload, headers = self.server.emulator._route(self.command, self.path, self.headers, body)
        except ApiError as e:
            status, payload, headers = e.status, {"errorMessage": e.message, "errorType": e.error_type}, {}
        except Exception as e:  # a bug in the emulator must not hang the client
            status, payload, headers = 500, {"errorMessage": repr(e), "errorType": E_INTERNAL}, {}
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            data = payload or b""
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed while it waited

    def log_message(self, *args: Any) -> None:
        pass


def _parse_register_body(body: bytes) -> list[str]:
    """The register body, validated like RIE's Go json.Unmarshal into {events []string, configurationKeys []string}."""
    try:
        doc = json.loads(body.decode("utf-8"))  # an empty body is invalid JSON, as in RIE
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(E_REQUEST_FORMAT, f"invalid JSON: {e}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ApiError(E_REQUEST_FORMAT, "json: cannot unmarshal into the register request")
    if doc.get("configurationKeys"):
        raise ApiError(E_REQUEST_FORMAT, "configurationKeys are deprecated; use environment variables instead")
    events = doc.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ApiError(E_REQUEST_FORMAT, "json: events must be an array of strings")
    return events


def _maybe_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body


# --------------------------------------------------------------------------------------------------------------
# The emulator


class LambdaEmulator:
    """See the module docstring. Always use it as a context manager (or call close()): that kills every process."""

    def __init__(
        self,
        extensions_dir: str | os.PathLike,
        env: dict[str, str] | None = None,
        *,
        mode: str = ON_DEMAND,
        runtime: str | list[str] | None = None,  # command of a runtime subprocess speaking the Runtime API
        runtime_init: Callable[[], Any] | None = None,  # in-process function init code, run in a thread
        init_timeout_s: float = 10.0,
        freeze: bool = True,
        thaw_delay_s: float = 0.0,  # sleep between an invoke request and SIGCONT of a frozen sandbox (clock jump)
        tracing: str = "present",  # "present" | "empty" | "omit" (the INVOKE event's tracing key)
        uppercase_reasons: bool = False,
        max_extensions: int = 10,
        reset_budget_ms: int = 1700,
        runtime_grace_ms: int = 300,
        error_grace_s: float = 1.0,  # after init/exit error: how long the poster may take to exit
        function_name: str = "pscache-test",
        function_version: str = "$LATEST",
        memory_mb: int = 128,
        handler_name: str = "index.handler",
        account_id: str = "123456789012",
        region: str = "us-east-1",
        invoked_function_arn: str | None = None,
        credentials: dict[str, str] | None = None,
        log_dir: str | os.PathLike | None = None,
        sized: bool = False,  # a cgroup per environment: CPU share and memory limit of memory_mb
        init_cpu: str = "share",  # sized INIT: "share" (at the quota) or "boost" (one CPU; invokes at the quota)
        evict_paths: list | None = None,  # None: warm files; a list: evict these + extensions + runtime before init
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if tracing not in ("present", "empty", "omit"):
            raise ValueError("tracing must be present, empty or omit")
        if runtime is not None and runtime_init is not None:
            raise ValueError("give either a runtime command or runtime_init, not both")
        if init_cpu not in sizing.INIT_CPU_MODELS:
            raise ValueError(f"init_cpu must be one of {sizing.INIT_CPU_MODELS}, not {init_cpu!r}")
        low, high = LAMBDA_MEMORY_MB
        if not (isinstance(memory_mb, int) and low <= memory_mb <= high):
            raise ValueError(f"memory_mb={memory_mb!r}: Lambda allows a whole number of MB from {low} to {high}")
        # Asking for a sized environment where none can be made fails here, never silently runs unconstrained.
        self.cgroups = sizing.probe() if sized else None
        self.init_cpu = init_cpu
        self.evict_paths = None if evict_paths is None else [os.fspath(p) for p in evict_paths]
        self.reports: list[Report] = []
        self._last_init_report: Report | None = None
        self.extensions_dir = os.fspath(extensions_dir)
        self.env = dict(env or {})
        self.mode = mode
        self.runtime_cmd = [runtime] if isinstance(runtime, (str, os.PathLike)) else runtime
        self.runtime_init = runtime_init
        self.init_timeout_s = init_timeout_s
        self.freeze_enabled = freeze
        self.thaw_delay_s = thaw_delay_s
        self.tracing = tracing
        self.uppercase_reasons = uppercase_reasons
        self.max_extensions = max_extensions
        self.reset_budget_ms = reset_budget_ms
        self.runtime_grace_ms = runtime_grace_ms
        self.error_grace_s = error_grace_s
        self.function_name = function_name
        self.function_version = function_version
        self.memory_mb = memory_mb
        self.handler_name = handler_name
        self.account_id = account_id
        self.region = region
        self.invoked_function_arn = (
            invoked_function_arn if invoked_function_arn is not None
            else f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        )
        expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6)
        self.credentials = credentials or {
            "AccessKeyId": self.env.get("AWS_ACCESS_KEY_ID", "AKIAEMULATOREXAMPLE"),
            "SecretAccessKey": self.env.get("AWS_SECRET_ACCESS_KEY", "emulator-secret-access-key"),
            "Token": self.env.get("AWS_SESSION_TOKEN", "emulator-session-token"),
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.container_token = secrets.token_urlsafe(24)
        self.credentials_served = 0  # answers of the credentials endpoint (SnapStart), to whoever asked

        self.events: list[tuple[float, str, str]] = []  # (perf_counter time, who, what)
        self.errors: list[FatalError] = []  # every fatal error, across generations
        self.resets: list[ShutdownResult] = []
        self.generation = 0

        self._cond = threading.Condition(threading.Lock())
        self._lifecycle = threading.RLock()  # serialises init / invoke / shutdown
        self._sb: Sandbox | None = None
        self._last_sb: Sandbox | None = None
        self._closed = False
        self._own_log_dir = log_dir is None
        self.log_dir = tempfile.mkdtemp(prefix="lambda-emu-") if log_dir is None else os.fspath(log_dir)
        os.makedirs(os.path.join(self.log_dir, "extensions"), exist_ok=True)
        self._log_cache: dict[str, str] = {}

        self._server = _Server(self)
        self._serve_thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),  # quick close()
                                              name="lambda-emu-api", daemon=True)
        self._serve_thread.start()
        _LIVE.add(self)

    # ---- public helpers ------------------------------------------------------------------------------------

    @property
    def runtime_api(self) -> str:
        """host:port without a scheme, as in AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def initialised(self) -> bool:
        return self._sb is not None

    @property
    def frozen(self) -> bool:
        return bool(self._sb and self._sb.frozen)

    def agents(self) -> list[Agent]:
        """Extensions of the live sandbox, else of the last one."""
        sb = self._sb or self._last_sb
        return list(sb.agents) if sb else []

    def agent(self, name: str) -> Agent:
        for a in self.agents():
            if a.name == name:
                return a
        raise KeyError(name)

    def pid(self, name: str) -> int | None:
        return self.agent(name).pid

    def runtime_pid(self) -> int | None:
        sb = self._sb or self._last_sb
        return sb.rt_proc.pid if sb and sb.rt_proc else None

    def output(self, name: str) -> str:
        """Everything extension `name` wrote to stdout/stderr, across all generations."""
        return self._read_log(os.path.join("extensions", name + ".log"))

    def runtime_output(self) -> str:
        return self._read_log("runtime.log")

    def log_path(self, name: str) -> str:
        return os.path.join(self.log_dir, "extensions", name + ".log")

    def events_of(self, who: str | None = None, what: str | None = None) -> list[tuple[float, str, str]]:
        return [e for e in list(self.events) if (who is None or e[1] == who) and (what is None or e[2] == what)]

    # ---- lifecycle -----------------------------------------------------------------------------------------

    def init(self) -> InitResult:
        """Run the Init phase. On success the sandbox is frozen until the next invoke (unless freeze is off/LMI)."""
        with self._lifecycle:
            self._check_open()
            if self._sb is not None:
                raise RuntimeError("already initialised: shutdown() first")
            result = self._do_init()
            if result.ok:
                self._freeze(self._sb)
            return result

    def invoke(self, handler: Callable[[Any, InvokeContext], Any] | None = None, payload: Any = None,
               timeout_s: float = 3.0) -> InvokeResult:
        """One invocation, initialising first if needed. Returns once the runtime has responded AND every
        INVOKE subscriber has called next again (the barrier), or after a reset.

        handler(event, context) runs in the calling thread as the function code; with a runtime subprocess the
        payload goes to it through the Runtime API instead; with neither, the function returns null at once."""
        self._check_open()
        if handler is not None and self.runtime_cmd:
            raise ValueError("a runtime subprocess is configured: it is the function, pass no handler")
        # LMI runs invocations concurrently; with a single runtime process they are serialised.
        concurrent = self.mode == LMI and not self.runtime_cmd
        with contextlib.nullcontext() if concurrent else self._lifecycle:
            return self._invoke(handler, payload, timeout_s)

    def shutdown(self, reason: str = "spindown", budget_ms: int = 1700) -> ShutdownResult:
        """The Shutdown phase: SIGTERM the runtime, SHUTDOWN to subscribers, SIGKILL the rest at the deadline."""
        with self._lifecycle:
            if self._sb is None:
                return ShutdownResult(reason, epoch_ms(), {}, {}, None, 0.0)
            return self._teardown(self._sb, reason, budget_ms)

    def restore(self) -> dict[str, str]:
        """A SnapStart restore of the snapshot taken after init: the frozen processes resume at the next invoke, and
        the credentials endpoint (same URI, same AWS_CONTAINER_AUTHORIZATION_TOKEN: the processes' environment is
        the snapshot's) hands out new credentials. Returns them. The old ones stay valid until their Expiration,
        as AWS's do (the local AWS checks none)."""
        with self._lifecycle:
            if self.mode != SNAP_START or self._sb is None:
                raise RuntimeError("restore() needs an initialised SnapStart environment")
            self._log("lambda", "restore")
            return self.rotate_credentials()

    def rotate_credentials(self) -> dict[str, str]:
        """New credentials at the credentials endpoint (a key id, secret and session token never served before,
        valid for 6 h), as after a restore or when the old ones near their expiry. Returns them."""
        expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=6)
        with self._cond:
            self.credentials = {
                "AccessKeyId": "ASIA" + secrets.token_hex(8).upper(),
                "SecretAccessKey": secrets.token_urlsafe(30),
                "Token": secrets.token_urlsafe(48),
                "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            return dict(self.credentials)

    def freeze(self) -> None:
        self._freeze(self._sb)

    def thaw(self, delay_s: float = 0.0) -> None:
        self._thaw(self._sb, delay_s)

    def close(self) -> None:
        """Kill every process, stop the server, keep the logs readable through output(). Idempotent."""
        if self._closed:
            return
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for sb in (self._sb, self._last_sb):
            if sb is not None:
                self._kill_all(sb)
        self._server.shutdown()
        self._server.server_close()
        self._serve_thread.join(5)
        if self._own_log_dir:
            for root, _, files in os.walk(self.log_dir):
                for f in files:
                    rel = os.path.relpath(os.path.join(root, f), self.log_dir)
                    self._log_cache[rel] = self._read_log(rel)
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("emulator is closed")

    def __enter__(self) -> LambdaEmulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- init ----------------------------------------------------------------------------------------------

    def _do_init(self) -> InitResult:
        with self._cond:
            self.generation += 1
            sb = self._sb = Sandbox(self.generation)
        if self.evict_paths is not None:  # a fresh microVM has read none of these yet
            pagecache.evict([self.extensions_dir, *self.evict_paths, *self._runtime_files()])
            self._log("lambda", "page-cache-evicted")
        if self.cgroups is not None:
            sb.cgroup = self.cgroups.new_environment(self.memory_mb)
            sb.cgroup.init_cpu(self.init_cpu)
        t0 = clock()
        deadline = t0 + self.init_timeout_s
        self._log("lambda", "init-start")

        # Extension init: launch every entry that is not a directory (RIE agents.ListExternalAgentPaths).
        names = sorted(n for n in os.listdir(self.extensions_dir)
                       if not os.path.isdir(os.path.join(self.extensions_dir, n)))
        for name in names:
            agent = Agent(name, external=True, path=os.path.join(self.extensions_dir, name))
            with self._cond:
                sb.agents.append(agent)
                if len(sb.agents) > self.max_extensions:
                    agent.state, agent.error_type = LAUNCH_ERROR, "TooManyExtensions"
                    self._fatal(sb, name, F_LAUNCH_ERROR, f"more than {self.max_extensions} extensions")
            if sb.fatal:
                return self._init_failed(sb, t0, "fatal")
            try:
                self._launch(sb, agent)
            except OSError as e:
                with self._cond:
                    agent.state = LAUNCH_ERROR
                    agent.error_type = "PermissionDenied" if isinstance(e, PermissionError) else "UnknownError"
                    self._fatal(sb, name, F_LAUNCH_ERROR, str(e))
                return self._init_failed(sb, t0, "fatal")
        outcome = self._wait(sb, lambda: all(a.state != STARTED for a in sb.externals()), deadline)
        if outcome:
            return self._init_failed(sb, t0, outcome)

        # Runtime init, then wait until the runtime and every extension have called next.
        self._log("lambda", "extensions-registered")
        self._start_runtime(sb)
        outcome = self._wait(
            sb, lambda: sb.rt_initialised and all(a.t_first_next is not None for a in sb.agents), deadline)
        if outcome:
            return self._init_failed(sb, t0, outcome)
        duration_ms = (clock() - t0) * 1000
        if sb.cgroup is not None:
            sb.cgroup.throttle(True)  # invokes always run at the share
        self._sample_memory(sb)
        self._log("lambda", "init-done")
        return InitResult(True, sb.generation, duration_ms, t_start=t0)

    def _runtime_files(self) -> list[str]:
        """The runtime command's files (its executable and script arguments), for eviction."""
        found = []
        for arg in self.runtime_cmd or []:
            path = shutil.which(arg) if os.sep not in os.fspath(arg) else os.fspath(arg)
            if path and os.path.isfile(path):
                found.append(path)
        return found

    def _launch(self, sb: Sandbox, agent: Agent) -> None:
        agent.log_path = self.log_path(agent.name)
        with open(agent.log_path, "ab") as log:
            if sb.cgroup is not None:
                agent.leaf = sb.cgroup.leaf("extension-" + agent.name)
            agent.t_exec = clock()
            agent.proc = subprocess.Popen(
                [agent.path], env=self._env(for_runtime=False), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                preexec_fn=agent.leaf.preexec() if agent.leaf else None)
        self._log(agent.name, "exec")
        agent.watcher = threading.Thread(target=self._watch, args=(sb, agent, agent.proc), daemon=True)
        agent.watcher.start()

    def _start_runtime(self, sb: Sandbox) -> None:
        if self.runtime_cmd:
            try:
                if sb.cgroup is not None:
                    sb.rt_leaf = sb.cgroup.leaf("runtime")
                with open(os.path.join(self.log_dir, "runtime.log"), "ab") as log:
                    sb.rt_proc = subprocess.Popen(
                        list(self.runtime_cmd), env=self._env(for_runtime=True), stdin=subprocess.DEVNULL,
                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                        preexec_fn=sb.rt_leaf.preexec() if sb.rt_leaf else None)
            except OSError as e:
                with self._cond:
                    self._fatal(sb, "runtime", F_RUNTIME_ENTRYPOINT, str(e))
                return
            self._log("runtime", "exec")
            sb.rt_watcher = threading.Thread(target=self._watch, args=(sb, None, sb.rt_proc), daemon=True)
            sb.rt_watcher.start()
        elif self.runtime_init:
            def run() -> None:
                try:
                    self.runtime_init()
                except BaseException as e:
                    with self._cond:
                        self._fatal(sb, "runtime", F_RUNTIME_UNKNOWN, repr(e))
                    return
                self._runtime_initialised(sb)

            self._log("runtime", "init-start")
            threading.Thread(target=run, name="lambda-emu-runtime-init", daemon=True).start()
        else:
            self._runtime_initialised(sb)

    def _runtime_initialised(self, sb: Sandbox) -> None:
        # An in-process runtime (or none) calls invocation/next as soon as its init code returns.
        with self._cond:
            sb.rt_initialised = True
            sb.registration_open = False
            self._log("runtime", "initialised")
            self._cond.notify_all()

    def _init_failed(self, sb: Sandbox, t0: float, outcome: str) -> InitResult:
        if outcome == "timeout":
            with self._cond:
                self._fatal(sb, "lambda", F_TIMEOUT, f"init did not complete within {self.init_timeout_s} s")
        err = sb.fatal or FatalError("lambda", E_INTERNAL, "emulator closed")
        init_ms = (clock() - t0) * 1000
        self._last_init_report = self._report(sb, "-", 0.0, init_ms, err.posted_type or err.error_type)
        self._kill_all(sb)
        self._log("lambda", f"init-failed:{err.error_type}")
        return InitResult(False, sb.generation, init_ms, err.posted_type or err.error_type,
                          err.error_type, err.message, timed_out=err.error_type == F_TIMEOUT, t_start=t0)

    # ---- invoke --------------------------------------------------------------------------------------------

    def _invoke(self, handler: Callable | None, payload: Any, timeout_s: float) -> InvokeResult:
        t_requested = clock()
        self._log("lambda", "invoke-requested")
        init_result = reset_result = None
        with self._lifecycle:
            sb = self._sb
            if sb is not None and sb.fatal:  # it crashed while idle: reset, then init again
                reset_result = self._reset(sb, "failure")
                sb = None
            if sb is None:
                init_result = self._do_init()
                if not init_result.ok:
                    failed = InvokeResult(False, error_type=init_result.error_type,
                                          fatal_error=init_result.fatal_error, timed_out=init_result.timed_out,
                                          total_ms=(clock() - t_requested) * 1000, init=init_result,
                                          reset=reset_result)
                    failed.report = self._last_init_report
                    return failed
                sb = self._sb
        self._thaw(sb, self.thaw_delay_s)

        request_id = str(uuid.uuid4())
        deadline = clock() + timeout_s
        event = self._invoke_event(request_id, epoch_ms() + int(timeout_s * 1000))
        with self._cond:
            subscribers = [a for a in sb.agents if INVOKE in a.events and a.state in (READY, RUNNING)]
            for a in subscribers:
                a.queue.append(dict(event))
            self._log("lambda", "invoke-sent")
            self._cond.notify_all()
        t_sent = clock()
        result = InvokeResult(False, request_id=request_id, event=event, init=init_result, reset=reset_result)

        outcome = self._run_function(sb, result, handler, payload, event, deadline)
        t_response = clock()
        result.duration_ms = (t_response - t_sent) * 1000
        if outcome is None:
            self._log("runtime", "response")
            outcome = self._wait(
                sb, lambda: all(a.state == READY and not a.queue for a in subscribers)
                and (sb.rt_proc is None or sb.rt_ready), deadline)
        t_done = clock()
        result.total_ms = (t_done - t_requested) * 1000
        result.cpu_ms_at_response = sb.cpu_at_response
        init_ms = init_result.duration_ms if init_result else None
        if outcome is None:
            result.ok = True
            result.post_runtime_extensions_ms = (t_done - t_response) * 1000
            result.report = self._report(sb, request_id, (t_done - t_sent) * 1000, init_ms, result.function_error)
            self._log("lambda", "invoke-done")
            self._freeze(sb)
            return result

        if outcome == "timeout":
            with self._cond:
                self._fatal(sb, "lambda", F_TIMEOUT, f"invocation {request_id} timed out after {timeout_s} s")
            result.timed_out = True
        err = sb.fatal or FatalError("lambda", E_INTERNAL, "emulator closed")
        result.error_type, result.fatal_error = err.posted_type or err.error_type, err.error_type
        result.report = self._report(sb, request_id, (t_done - t_sent) * 1000, init_ms, result.error_type)
        if not self._closed:
            with self._lifecycle:
                result.reset = self._reset(sb, "timeout" if outcome == "timeout" else "failure")
        return result

    def _invoke_event(self, request_id: str, deadline_ms: int) -> dict:
        event = {"eventType": INVOKE, "deadlineMs": deadline_ms, "requestId": request_id,
                 "invokedFunctionArn": self.invoked_function_arn}
        if self.tracing == "present":
            trace = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=1"
            event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": trace}
        elif self.tracing == "empty":
            event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": ""}
        return event

    def _run_function(self, sb: Sandbox, result: InvokeResult, handler: Callable | None, payload: Any,
                      event: dict, deadline: float) -> str | None:
        """Run the function part of the invocation; fill result.response. Returns None, 'fatal' or 'timeout'."""
        if self.runtime_cmd:
            if isinstance(payload, (bytes, str)):
                raw = payload if isinstance(payload, bytes) else payload.encode()
            else:
                raw = json.dumps({} if payload is None else payload).encode()
            with self._cond:
                sb.rt_result = None
                sb.rt_pending = {"requestId": event["requestId"], "body": raw, "deadlineMs": event["deadlineMs"],
                                 "trace": (event.get("tracing") or {}).get("value", "")}
                self._cond.notify_all()
            outcome = self._wait(sb, lambda: sb.rt_result is not None, deadline)
            if outcome is None:
                kind, body, error_type = sb.rt_result
                result.response_raw, result.response = body, _maybe_json(body)
                if kind == "error":
                    result.function_error = error_type or "Unhandled"
            return outcome
        if handler is None:
            result.response = None
            return None
        context = InvokeContext(event["requestId"], event["deadlineMs"], self.invoked_function_arn,
                                self.function_name, self.function_version, self.memory_mb)
        try:
            result.response = handler(payload, context)
        except Exception as e:  # an unhandled function error is not fatal to the sandbox
            result.function_error = type(e).__name__
            result.response = {"errorMessage": str(e), "errorType": type(e).__name__}
        if clock() > deadline:
            return "timeout"
        with self._cond:
            return "fatal" if sb.fatal and clock() >= sb.abort_at else None

    # ---- freeze, teardown ----------------------------------------------------------------------------------

    def _freeze(self, sb: Sandbox | None) -> None:
        if sb is None or sb.frozen or not self.freeze_enabled or self.mode == LMI or sb.dead:
            return
        self._sample_memory(sb)
        if sb.cgroup is not None and sb.cgroup.can_freeze:
            sb.cgroup.freeze()  # the whole environment at once, as Lambda freezes it
        else:
            for proc in sb.processes():
                if proc.returncode is None:
                    _signal_group(proc, signal.SIGSTOP)
        sb.frozen = True
        self._log("lambda", "frozen")

    def _thaw(self, sb: Sandbox | None, delay_s: float = 0.0) -> None:
        if sb is None or not sb.frozen:
            return
        if delay_s:
            time.sleep(delay_s)
        if sb.cgroup is not None and sb.cgroup.can_freeze:
            sb.cgroup.thaw()
        else:
            for proc in sb.processes():
                if proc.returncode is None:
                    _signal_group(proc, signal.SIGCONT)
        sb.frozen = False
        self._log("lambda", "thawed")

    def _reset(self, sb: Sandbox, reason: str) -> ShutdownResult:
        self._log("lambda", f"reset:{reason}")
        result = self._teardown(sb, reason, self.reset_budget_ms)
        self.resets.append(result)
        return result

    def _teardown(self, sb: Sandbox, reason: str, budget_ms: int) -> ShutdownResult:
        t_start = clock()
        with self._cond:
            sb.shutting_down = True  # from now on an exit is expected, not a crash
        self._thaw(sb)

        # 1. The runtime gets SIGTERM and a short grace (spec §2.4: up to 300 ms).
        if sb.rt_proc is not None and sb.rt_proc.poll() is None:
            _signal_group(sb.rt_proc, signal.SIGTERM)
            self._log("runtime", "sigterm")
            try:
                sb.rt_proc.wait(self.runtime_grace_ms / 1000)
            except subprocess.TimeoutExpired:
                _signal_group(sb.rt_proc, signal.SIGKILL)
                self._log("runtime", "sigkill")

        # 2. SHUTDOWN to the subscribers that wait for events; everyone else is SIGKILLed at once.
        reason_sent = reason.upper() if self.uppercase_reasons else reason
        deadline_ms = epoch_ms() + budget_ms
        event = {"eventType": SHUTDOWN, "shutdownReason": reason_sent, "deadlineMs": deadline_ms}
        t_sent = clock()
        deadline = t_sent + budget_ms / 1000
        with self._cond:
            notified = []
            for a in sb.externals():
                if not a.alive:
                    continue
                a.t_shutdown_sent = t_sent
                if SHUTDOWN in a.events and a.state in (READY, RUNNING):
                    a.queue.append(dict(event))
                    notified.append(a)
                else:
                    a.killed = True
                    _signal_group(a.proc, signal.SIGKILL)
                    self._log(a.name, "sigkill")
            self._log("lambda", f"shutdown-sent:{reason_sent}")
            self._cond.notify_all()

        # 3. Wait for them to exit until the deadline, then SIGKILL whatever is left (whole process groups).
        self._wait(sb, lambda: not any(a.alive for a in notified), deadline, check_fatal=False)
        with self._cond:
            for a in notified:
                if a.alive:
                    a.killed = True
                    self._log(a.name, "sigkill")
        self._kill_all(sb)

        extensions = {}
        for a in sb.externals():
            if a.t_shutdown_sent is None:
                continue  # it had exited before the shutdown began
            if a.exit_code is not None and a.t_exit is not None:
                a.exit_ms = (a.t_exit - a.t_shutdown_sent) * 1000
            if a.state in (READY, RUNNING, REGISTERED, STARTED):
                clean = a in notified and a.exit_code == 0 and a.t_exit is not None and a.t_exit <= deadline
                a.state = EXITED if clean else SHUTDOWN_FAILED
            extensions[a.name] = ExtensionExit(a.name, a.state, a.exit_code, a.exit_ms, SHUTDOWN in a.events)
        self._log("lambda", "shutdown-done")
        return ShutdownResult(reason_sent, deadline_ms, event, extensions, sb.rt_exit_code,
                              (clock() - t_start) * 1000)

    def _kill_all(self, sb: Sandbox) -> None:
        with self._cond:
            sb.dead = sb.shutting_down = True
            for a in sb.agents:
                if a.alive:
                    a.killed = True
            self._cond.notify_all()  # releases every blocked next
        procs = sb.processes()
        # Signal each group once: a group whose leader was reaped long ago may have a recycled pid by now.
        for proc in procs if not sb.groups_killed else [p for p in procs if p.returncode is None]:
            _signal_group(proc, signal.SIGKILL)  # also kills a stopped (frozen) process and its children
        sb.groups_killed = True
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        for t in [a.watcher for a in sb.agents] + [sb.rt_watcher]:
            if t is not None and t is not threading.current_thread():
                t.join(5)
        if sb.cgroup is not None:
            sb.cgroup.remove()  # idempotent: also kills what the process groups missed
        with self._cond:
            if self._sb is sb:
                self._sb = None
                self._last_sb = sb
            sb.frozen = False
            self._cond.notify_all()

    # ---- bookkeeping ---------------------------------------------------------------------------------------

    def _watch(self, sb: Sandbox, agent: Agent | None, proc: subprocess.Popen) -> None:
        """Crash detection: any exit outside shutdown, even with code 0, is fatal (RIE rapid/handlers.go)."""
        code = proc.wait()
        with self._cond:
            t = clock()
            who = agent.name if agent else "runtime"
            if agent:
                agent.exit_code, agent.t_exit = code, t
            else:
                sb.rt_exit_code = code
            self._log(who, f"exit:{code}")
            if sb.shutting_down or (agent is not None and agent.killed):
                pass
            elif self._out_of_memory(sb, code):
                self._fatal(sb, who, F_OUT_OF_MEMORY, f"{who} was killed by the kernel: the environment reached "
                                                      f"its memory limit of {self.memory_mb} MB")
            elif agent.state in (INIT_ERROR, EXIT_ERROR) if agent else sb.rt_error_posted:
                sb.abort_at = min(sb.abort_at, t)  # it reported its error and exited, as it should
            else:
                self._fatal(sb, who, F_CRASH if agent else F_RUNTIME_EXIT, f"exited with code {code}")
            self._cond.notify_all()

    @staticmethod
    def _out_of_memory(sb: Sandbox, code: int) -> bool:
        """A SIGKILL that the environment's memory cgroup counted as an OOM kill (caller holds the lock)."""
        if sb.cgroup is None or code != -signal.SIGKILL:
            return False
        try:
            kills = sb.cgroup.usage().oom_kills
        except OSError:
            return False
        new, sb.oom_seen = kills > sb.oom_seen, kills
        return new

    def _sample_memory(self, sb: Sandbox) -> None:
        """Keep the largest anonymous and file-backed RSS seen per process (the kernel tracks only the total)."""
        for name, proc, _ in sb.named_processes():
            m = procstat.memory(proc.pid) if proc.returncode is None else None
            if m is not None:
                seen = sb.rss_max.setdefault(name, [0, 0, 0])
                seen[0], seen[1], seen[2] = max(seen[0], m.anon_kb), max(seen[1], m.file_kb), m.peak_rss_kb

    def _cpu_ms(self, proc: subprocess.Popen, leaf: sizing.Leaf | None) -> float | None:
        if leaf is not None:
            with contextlib.suppress(OSError):
                return leaf.usage().cpu_ns / 1e6
        ns = procstat.cpu_ns(proc.pid) if proc.returncode is None else None
        return None if ns is None else ns / 1e6

    def _report(self, sb: Sandbox, request_id: str, duration_ms: float, init_ms: float | None,
                error_type: str | None) -> Report:
        """Lambda's REPORT figures, read before anything of the environment is torn down."""
        self._sample_memory(sb)
        processes = {}
        for name, proc, leaf in sb.named_processes():
            anon, file, peak = sb.rss_max.get(name, (0, 0, 0))
            charged = None
            if leaf is not None:
                with contextlib.suppress(OSError):
                    charged = leaf.usage().memory_peak_bytes / MIB
            processes[name] = ProcessFigures(peak / 1024, anon / 1024, file / 1024, self._cpu_ms(proc, leaf) or 0.0,
                                             charged)
        peak_mb = None
        if sb.cgroup is not None:
            with contextlib.suppress(OSError):
                peak_mb = sb.cgroup.usage().memory_peak_bytes / MIB
        elif processes:
            peak_mb = sum(p.peak_rss_mb for p in processes.values())
        report = Report(request_id, duration_ms, self.memory_mb, peak_mb, init_ms, error_type,
                        sized=sb.cgroup is not None, processes=processes)
        self.reports.append(report)
        return report

    def cpu_quota_us(self) -> int:
        """The CFS quota per 100 ms period that a sized environment of memory_mb gets."""
        return sizing.cpu_quota_us(self.memory_mb)

    def usage(self) -> sizing.Usage | None:
        """The live sized environment's cgroup figures (None when not sized or not initialised)."""
        sb = self._sb
        return sb.cgroup.usage() if sb is not None and sb.cgroup is not None else None

    def _fatal(self, sb: Sandbox, who: str, error_type: str, message: str = "", posted: str | None = None,
               body: Any = None, grace_s: float = 0.0) -> None:
        """Record a fatal error (caller holds the lock). The first one wins, as in RIE's StoreFirstFatalError."""
        err = FatalError(who, error_type, message, posted, body, sb.generation)
        self.errors.append(err)
        self._log(who, f"fatal:{error_type}")
        now = clock()
        if sb.fatal is None:
            sb.fatal, sb.abort_at = err, now + grace_s
        elif grace_s == 0:
            sb.abort_at = min(sb.abort_at, now)
        self._cond.notify_all()

    def _wait(self, sb: Sandbox, ready: Callable[[], bool], deadline: float, check_fatal: bool = True) -> str | None:
        """Block until ready() holds. Returns None, or why not: 'fatal', 'timeout' or 'closed'."""
        with self._cond:
            while True:
                now = clock()
                if check_fatal and sb.fatal is not None:
                    if now >= sb.abort_at:
                        return "fatal"
                elif ready():
                    return None
                if self._closed:
                    return "closed"
                if now >= deadline:
                    return "fatal" if check_fatal and sb.fatal else "timeout"
                wake = min(deadline, sb.abort_at) if check_fatal and sb.fatal else deadline
                self._cond.wait(max(0.001, min(wake - now, 0.5)))

    def _log(self, who: str, what: str) -> None:
        self.events.append((clock(), who, what))

    def _read_log(self, rel: str) -> str:
        if rel in self._log_cache:
            return self._log_cache[rel]
        try:
            with open(os.path.join(self.log_dir, rel), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _env(self, for_runtime: bool) -> dict[str, str]:
        """The process environment of spec §2.5: customer variables, platform variables, credentials."""
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "LANG": "en_US.UTF-8",
               "TZ": ":UTC", "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        env.update(self.env)
        env.update({
            "AWS_LAMBDA_RUNTIME_API": self.runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": self.function_version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_INITIALIZATION_TYPE": self.mode,
        })
        if self.mode == SNAP_START:  # no static credentials, only the container credentials endpoint
            for key in STATIC_CREDENTIAL_VARS:
                env.pop(key, None)
            env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://{self.runtime_api}{CREDENTIALS_PATH}"
            env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = self.container_token
        else:
            env.setdefault("AWS_ACCESS_KEY_ID", self.credentials["AccessKeyId"])
            env.setdefault("AWS_SECRET_ACCESS_KEY", self.credentials["SecretAccessKey"])
            env.setdefault("AWS_SESSION_TOKEN", self.credentials["Token"])
        if for_runtime:
            env.update({
                "_HANDLER": self.handler_name, "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"emulator/[{self.function_version}]{uuid.uuid4().hex}",
            })
        else:
            env = {k: v for k, v in env.items() if k not in RUNTIME_ONLY_VARS and not k.startswith("_")}
        return env

    # ---- HTTP API ------------------------------------------------------------------------------------------

    _RESULT_PATH = re.compile(re.escape(RUNTIME_API) + r"/invocation/([^/]+)/(response|error)")

    def _route(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any, dict]:
        path = path.split("?", 1)[0]
        if method == "POST" and path == EXT_API + "/register":
            return self._api_register(headers, body)
        if method == "GET" and path == EXT_API + "/event/next":
            return self._api_next(headers)
        if method == "POST" and path == EXT_API + "/init/error":
            return self._api_agent_error(headers, body, INIT_ERROR)
        if method == "POST" and path == EXT_API + "/exit/error":
            return self._api_agent_error(headers, body, EXIT_ERROR)
        if method == "GET" and path == RUNTIME_API + "/invocation/next":
            return self._api_runtime_next()
        if method == "POST" and (m := self._RESULT_PATH.fullmatch(path)):
            return self._api_runtime_result(m.group(1), m.group(2), headers, body)
        if method == "POST" and path == RUNTIME_API + "/init/error":
            return self._api_runtime_init_error(headers, body)
        if method == "GET" and path == CREDENTIALS_PATH:
            return self._api_credentials(headers)
        return 404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"}

    def _check_event(self, event: str, external: bool) -> None:
        if event not in (INVOKE, SHUTDOWN):
            raise ApiError(E_EVENT_TYPE, f"{event}: ErrorUnknownEventType")
        if self.mode == LMI and (not external or event == INVOKE):
            raise ApiError(E_EVENT_TYPE, f"{event}: EventNotSupportedInLambdaManagedInstances")
        if not external and event == SHUTDOWN:
            raise ApiError(E_EVENT_TYPE, f"{event}: ShutdownEventNotSupportedForInternalExtension")

    def _api_register(self, headers: Any, body: bytes) -> tuple[int, Any, dict]:
        name = headers.get("Lambda-Extension-Name") or ""
        if not name:
            raise ApiError(E_INVALID_NAME, "Empty extension name")
        features = {f.strip() for f in (headers.get("Lambda-Extension-Accept-Feature") or "").split(",")}
        events = _parse_register_body(body)
        with self._cond:
            sb = self._sb
            agent = sb.by_name(name, external=True) if sb else None
            if agent is not None:
                for e in events:
                    self._check_event(e, external=True)
                if agent.state != STARTED:
                    raise ApiError(E_STATE, f"State transition from {agent.state} to {REGISTERED} failed for "
                                            f"extension {name}. Error: State transition is not allowed")
            else:  # not a launched file: an internal extension
                for e in events:
                    self._check_event(e, external=False)
                if sb is None or not sb.registration_open:
                    raise ApiError(E_REGISTRATION_CLOSED, "Extension registration closed already")
                if len(sb.agents) >= self.max_extensions:
                    raise ApiError(E_TOO_MANY, f"Extension limit ({self.max_extensions}) reached")
                if sb.by_name(name, external=False):
                    raise ApiError(E_STATE, "Extension with this name already registered")
                agent = Agent(name, external=False)
                sb.agents.append(agent)
            agent.id = str(uuid.uuid4())
            agent.events = list(dict.fromkeys(events))
            agent.state = REGISTERED
            agent.t_register = clock()
            if agent.leaf is not None:
                with contextlib.suppress(OSError):
                    agent.cpu_ms_at_register = agent.leaf.usage().cpu_ns / 1e6
            self._log(name, "register")
            self._cond.notify_all()
        response = {"functionName": self.function_name, "functionVersion": self.function_version,
                    "handler": self.handler_name}
        if "accountId" in features:
            response["accountId"] = self.account_id
        return 200, response, {"Lambda-Extension-Identifier": agent.id}

    def _agent_from(self, headers: Any) -> tuple[Sandbox, Agent]:
        """RIE's identifier middleware, then the lookup (caller holds the lock)."""
        raw = headers.get("Lambda-Extension-Identifier")
        if not raw:
            raise ApiError(E_ID_MISSING, "Missing Lambda-Extension-Identifier header")
        try:
            ident = str(uuid.UUID(raw))
        except ValueError:
            raise ApiError(E_ID_INVALID, "Invalid Lambda-Extension-Identifier") from None
        sb = self._sb
        agent = sb.by_id(ident) if sb else None
        if agent is None:
            raise ApiError(E_ID_UNKNOWN, f"Unknown extension {ident}")
        return sb, agent

    def _api_next(self, headers: Any) -> tuple[int, Any, dict]:
        with self._cond:
            sb, agent = self._agent_from(headers)
            if agent.state not in (REGISTERED, RUNNING):
                raise ApiError(E_STATE, f"State transition from {agent.state} to {READY} failed for extension "
                                        f"{agent.id}. Error: State transition is not allowed")
            agent.state = READY
            if agent.t_first_next is None:
                agent.t_first_next = clock()
            self._log(agent.name, "next")
            self._cond.notify_all()
            # Long poll without a server-side timeout; only a torn-down sandbox releases it empty-handed.
            while not agent.queue:
                if sb.dead or self._closed or agent.state != READY:
                    raise ApiError(E_INTERNAL, "Internal Server Error", 500)
                self._cond.wait(1.0)
            event = agent.queue.popleft()
            agent.state = RUNNING
            self._log(agent.name, "event:" + event["eventType"])
        extra = {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())} if event["eventType"] == INVOKE else {}
        return 200, event, extra

    def _api_agent_error(self, headers: Any, body: bytes, target: str) -> tuple[int, Any, dict]:
        with self._cond:
            sb, agent = self._agent_from(headers)
            error_type = headers.get("Lambda-Extension-Function-Error-Type")
            if not error_type:
                raise ApiError(E_MISSING_HEADER, "Lambda-Extension-Function-Error-Type not found")
            allowed = (REGISTERED,) if target == INIT_ERROR else (REGISTERED, READY, RUNNING)
            if agent.state not in allowed:
                raise ApiError(E_STATE, f"State transition from {agent.state} to {target} failed for extension "
                                        f"{agent.id}. Error: State transition is not allowed")
            agent.state, agent.error_type, agent.error_body = target, error_type, _maybe_json(body)
            self._log(agent.name, "init-error" if target == INIT_ERROR else "exit-error")
            self._fatal(sb, agent.name, F_INIT_ERROR if target == INIT_ERROR else F_EXIT_ERROR,
                        f"{agent.name} posted {error_type}", error_type, agent.error_body, self.error_grace_s)
        return 202, {"status": "OK"}, {}

    def _api_runtime_next(self) -> tuple[int, Any, dict]:
        with self._cond:
            sb = self._sb
            if sb is None:
                raise ApiError(E_INTERNAL, "Internal Server Error", 500)
            if not sb.rt_initialised:  # the runtime's first next closes registration (RIE TurnOff)
                sb.rt_initialised = True
                sb.registration_open = False
            sb.rt_ready = True
            self._log("runtime", "next")
            self._cond.notify_all()
            while sb.rt_pending is None:
                if sb.dead or self._closed:
                    raise ApiError(E_INTERNAL, "Internal Server Error", 500)
                self._cond.wait(1.0)
            invocation, sb.rt_pending = sb.rt_pending, None
            sb.rt_ready, sb.rt_current = False, invocation["requestId"]
            self._log("runtime", "invocation")
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation["requestId"],
            "Lambda-Runtime-Deadline-Ms": str(invocation["deadlineMs"]),
            "Lambda-Runtime-Invoked-Function-Arn": self.invoked_function_arn,
        }
        if invocation["trace"]:
            headers["Lambda-Runtime-Trace-Id"] = invocation["trace"]
        return 200, invocation["body"], headers

    def _api_runtime_result(self, request_id: str, kind: str, headers: Any, body: bytes) -> tuple[int, Any, dict]:
        with self._cond:
            sb = self._sb
            if sb is None or request_id != sb.rt_current:
                raise ApiError("InvalidRequestID", "Invalid request ID", 400)
            sb.rt_current = None
            sb.rt_result = (kind, body, headers.get("Lambda-Runtime-Function-Error-Type"))
            # CPU of each process the moment the function had its answer (e.g. pscache's cost of a first read).
            sb.cpu_at_response = {name: self._cpu_ms(proc, leaf) for name, proc, leaf in sb.named_processes()}
            self._cond.notify_all()
        return 202, {"status": "OK"}, {}

    def _api_runtime_init_error(self, headers: Any, body: bytes) -> tuple[int, Any, dict]:
        with self._cond:
            sb = self._sb
            if sb is None:
                raise ApiError(E_INTERNAL, "Internal Server Error", 500)
            error_type = headers.get("Lambda-Runtime-Function-Error-Type") or F_RUNTIME_UNKNOWN
            sb.rt_error_posted = True
            self._fatal(sb, "runtime", error_type, "runtime posted init/error", error_type, _maybe_json(body),
                        self.error_grace_s)
        return 202, {"status": "OK"}, {}

    def _api_credentials(self, headers: Any) -> tuple[int, Any, dict]:
        if self.mode != SNAP_START or headers.get("Authorization") != self.container_token:
            return 404, b"cannot get credentials for the provided token\n", {"Content-Type": "text/plain"}
        with self._cond:
            self.credentials_served += 1
            return 200, dict(self.credentials), {}
