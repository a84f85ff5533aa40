"""Every setting, parsed and validated in one place.

The nine variables of the AWS extension keep its names, defaults and limits.
A value that cannot be parsed is a ConfigError naming the variable, the value
and what is allowed; values above a documented maximum are clamped with a
warning, as the AWS extension does.
"""

from __future__ import annotations

import os
import sys

# No dataclasses or typing here: this module runs before register, on the function's cold-start
# path, and those imports alone cost more than the rest of that path.

LOG_LEVELS = ("debug", "info", "warn", "error", "none")
LMI = "lambda-managed-instances"
PROVISIONED = "provisioned-concurrency"
SNAP_START = "snap-start"
MAX_TTL_SECONDS = 300  # the AWS extension's ceiling; PSCACHE_MAX_TTL raises it
MAX_TTL = "PSCACHE_MAX_TTL"
TTL_CEILING_LIMIT = 86400
MAX_CACHE_SIZE = 1000
PREFETCH_KINDS = {"ssm": "ssm", "secretsmanager": "secretsmanager", "secret": "secretsmanager", "ssm-path": "ssm-path"}
DEFAULT_CACHE_MAX_BYTES = 64 * 1024 * 1024
# Under Lambda the byte cap defaults to this share of the function's memory (which the function and every
# extension share): 1/16 of 128 MB is 8 MiB, so a cache filled with the largest values SSM and Secrets Manager
# allow stays far from the environment's limit.
CACHE_SHARE_OF_MEMORY = 16
SDK_LOADS = ("auto", "before-next", "after-next")
# An IAM role ARN, as STS AssumeRole takes it: partition, 12-digit account, role/ then an optional path and the name.
ROLE_ARN_PATTERN = r"arn:aws[a-z-]*:iam::[0-9]{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}"
EXTERNAL_ID_PATTERN = r"[\w+=,.@:/-]{2,1224}"  # STS's constraint on ExternalId
# botocore's retry modes for pscache's own AWS clients; "standard" with 3 attempts is Go SDK v2's default retryer.
RETRY_MODES = ("standard", "adaptive")
MAX_ATTEMPTS_LIMIT = 10
MAX_TTL_JITTER_PERCENT = 50
# Under Managed Instances each concurrent invocation may hold a connection for its reads and one for its SDK's calls
# through the wire front: the inbound cap defaults to this many per AWS_LAMBDA_MAX_CONCURRENCY, at least 800.
CONNECTIONS_PER_INVOCATION = 2
# PSCACHE_WORKERS: processes answering hits. Under Managed Instances the default is one per this many concurrent
# invocations (Node.js's default per vCPU; one process answers ~4,000 hits/s on a core), at most one per usable core.
INVOCATIONS_PER_WORKER = 64
MAX_WORKERS = 64


class ConfigError(ValueError):
    """One or more settings are invalid; str() lists each of them."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class Settings:
    """The effective settings. Built only by load(); the token is kept out of repr so it never reaches a log."""

    port = 2773
    cache_enabled = True
    cache_size = 1000
    max_connections = 3
    log_level = "info"
    ssm_ttl = 300
    secrets_ttl = 300
    ssm_timeout_ms = 0
    secrets_timeout_ms = 0
    extension_name = "pscache"
    runtime_api: str | None = None
    init_type = ""
    token: str | None = None
    # pscache's own settings (PSCACHE_*); the defaults keep the AWS extension's behaviour.
    max_ttl = MAX_TTL_SECONDS
    cache_max_bytes = DEFAULT_CACHE_MAX_BYTES
    memory_mb = 0  # AWS_LAMBDA_FUNCTION_MEMORY_SIZE, 0 outside Lambda
    sdk_load = "auto"  # when the AWS SDK and the clients are made: see main.sdk_before_next
    stale_if_error = 0
    refresh_ahead_percent = 0
    prefetch: tuple = ()  # (service, id, query) triples; service "ssm-path" is a GetParametersByPath read
    negative_ttl = 0  # seconds a not-found or denied answer is cached; 0: errors are never cached
    allowed_role_arns: frozenset = frozenset()  # roles a read may name with roleArn=; none by default
    role_external_id: str | None = None  # ExternalId sent with every AssumeRole
    ttl_jitter_percent = 0  # each entry's TTL is shortened by a random 0..N % (never lengthened)
    retry_mode = "standard"
    max_attempts = 3
    max_concurrency = 0  # AWS_LAMBDA_MAX_CONCURRENCY (Managed Instances), 0 when absent
    workers = 1  # processes answering hits: the owner and workers - 1 hit workers (app/workers.py)
    metrics_emf = False
    metrics_every_invokes = 0
    limits = None  # Limits(); see read_limits
    ca_bundle: tuple | None = None  # (variable, path) of the CA bundle the SDK verifies AWS with, where one is set
    upstream_tls = True  # False only when both services' endpoints are plain http:// (a local AWS)
    self_endpoints: dict = {}  # service -> endpoint to call instead of one that points at pscache (config.self_endpoints)
    sources: tuple = ()  # where each value came from, for the DEBUG lines
    warnings: tuple = ()

    def __init__(self, **values):
        for key, value in values.items():
            if not hasattr(Settings, key):
                raise TypeError(f"unknown setting {key}")
            setattr(self, key, value)

    def __repr__(self) -> str:
        shown = ("port", "cache_enabled", "cache_size", "max_connections", "log_level", "ssm_ttl", "secrets_ttl",
                 "ssm_timeout_ms", "secrets_timeout_ms", "extension_name", "runtime_api", "init_type", "max_ttl",
                 "cache_max_bytes", "memory_mb", "sdk_load", "stale_if_error", "refresh_ahead_percent",
                 "ttl_jitter_percent", "retry_mode", "max_attempts", "max_concurrency", "workers", "prefetch",
                 "negative_ttl", "allowed_role_arns", "metrics_emf",
                 "metrics_every_invokes")
        return "Settings(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in shown) + ")"

    @property
    def under_lambda(self) -> bool:
        return bool(self.runtime_api)

    def ttl_for(self, service: str) -> int:
        return self.ssm_ttl if service == "ssm" else self.secrets_ttl

    def timeout_ms_for(self, service: str) -> int:
        return self.ssm_timeout_ms if service == "ssm" else self.secrets_timeout_ms

    def caching(self, service: str) -> bool:
        return caches(self.cache_enabled, self.cache_size, self.ttl_for(service))


def caches(enabled: bool, size: int, ttl: int) -> bool:
    """Whether a store with this TTL is cached at all."""
    return enabled and size > 0 and ttl > 0


class _Reader:
    """Reads variables, collecting every problem instead of stopping at the first."""

    def __init__(self, environ):
        self.environ = environ
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.sources: list[tuple[str, str]] = []
        self.described: list[tuple[str, str, str]] = []  # (variable, default, allowed): `pscache --help`

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        # An empty value counts as unset: IaC tools often render missing values as "".
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _seen(self, name: str, shown: str, given: bool) -> None:
        self.sources.append((name, f"{shown}" + ("" if given else " (default)")))

    def integer(self, name: str, default: int, low: int, high: int | None, clamp: bool, unit: str = "",
                default_text: str = "", high_from: str = "") -> int:
        """default_text: the default in words, where it follows the environment; high_from: the setting high is."""
        raw = self.raw(name)
        allowed = f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"
        shown = f"{low}-{high}{unit}" if high is not None else f">= {low}{unit}"
        notes = ", ".join(n for n in (high_from and f"up to {high_from}", clamp and "above: clamped") if n)
        self.described.append((name, default_text or f"{default}{unit}", shown + (f" ({notes})" if notes else "")))
        if raw is None:
            self._seen(name, f"{default}{unit}", False)
            return default
        try:
            value = int(raw, 10)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is invalid: expected {allowed}{unit}")
            return default
        if value < low or (high is not None and value > high and not clamp):
            self.problems.append(f"{name}={raw!r} is out of range: expected {allowed}{unit}")
            return default
        if high is not None and value > high:
            self.warnings.append(f"{name}={value} exceeds the maximum of {high}{unit}; using {high}{unit}")
            value = high
        self._seen(name, f"{value}{unit}", True)
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.raw(name)
        self.described.append((name, str(default).lower(), "true, false (any case)"))
        if raw is None:
            self._seen(name, str(default).lower(), False)
            return default
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            self.problems.append(f"{name}={raw!r} is invalid: expected true or false (any case)")
            return default
        self._seen(name, lowered, True)
        return lowered == "true"

    def choice(self, name: str, default: str, choices: tuple, aliases: dict) -> str:
        raw = self.raw(name)
        self.described.append((name, default, ", ".join(choices) + " (any case)"))
        if raw is None:
            self._seen(name, default, False)
            return default
        lowered = aliases.get(raw.lower(), raw.lower())
        if lowered not in choices:
            allowed = ", ".join(c.upper() for c in choices)
            self.problems.append(f"{name}={raw!r} is invalid: expected one of {allowed} (any case)")
            return default
        self._seen(name, lowered, True)
        return lowered

    def prefetch(self, name: str) -> tuple:
        """`kind:id[?query]` items separated by commas or whitespace; ids and queries are checked later by the
        same parser as requests, so a prefetched entry has exactly the key a request for it has."""
        raw = self.raw(name)
        self.described.append((name, "none", "ssm:<name>[?query], ssm-path:/<path>[?query], "
                                             "secretsmanager:<id>[?query], separated by commas or spaces"))
        if raw is None:
            self._seen(name, "none", False)
            return ()
        items, bad = [], []
        for item in raw.replace(",", " ").split():
            kind, sep, rest = item.partition(":")
            ident, _, query = rest.partition("?")
            service = PREFETCH_KINDS.get(kind.lower())
            if not sep or service is None or not ident or (service == "ssm-path" and not ident.startswith("/")):
                bad.append(item)
            else:
                items.append((service, ident, query))
        if bad:
            self.problems.append(
                f"{name} has invalid item(s) {', '.join(repr(b) for b in bad)}: expected ssm:<name>[?query], "
                "ssm-path:/<path>[?query] or secretsmanager:<secret id>[?query] (also secret:), separated by commas "
                "or spaces"
            )
            return ()
        self._seen(name, f"{len(items)} item(s)", True)
        return tuple(items)

    def role_arns(self, name: str) -> frozenset:
        """Role ARNs separated by commas or whitespace, each checked whole: an allow-list takes no patterns."""
        raw = self.raw(name)
        self.described.append((name, "none", "arn:aws:iam::<account>:role/<name>, separated by commas or spaces"))
        if raw is None:
            self._seen(name, "none", False)
            return frozenset()
        import re  # only when roles are configured: not on the default cold path

        arns = raw.replace(",", " ").split()
        bad = [arn for arn in arns if not re.fullmatch(ROLE_ARN_PATTERN, arn, re.ASCII)]
        if bad:
            self.problems.append(
                f"{name} has invalid role ARN(s) {', '.join(repr(b) for b in bad)}: expected "
                "arn:aws:iam::<12-digit account>:role/<name> (also with a path), separated by commas or spaces"
            )
            return frozenset()
        self._seen(name, ", ".join(arns), True)
        return frozenset(arns)

    def external_id(self, name: str) -> str | None:
        raw = self.raw(name)
        self.described.append((name, "none", "2-1224 characters of letters, digits and _+=,.@:/-"))
        if raw is None:
            self._seen(name, "none", False)
            return None
        import re

        if not re.fullmatch(EXTERNAL_ID_PATTERN, raw, re.ASCII):
            self.problems.append(f"{name}={raw!r} is invalid: expected 2 to 1224 characters of letters, digits and "
                                 "_+=,.@:/-")
            return None
        self._seen(name, "set", True)  # not shown: it is a shared secret of sorts
        return raw


# -- Inbound HTTP limits (issue 6). PSCACHE_ names: the AWS extension documents none of these. --------------
class Limits:
    """What one client may cost pscache; each bound is answered with a JSON error, never a hang."""

    max_connections = 800  # open inbound connections; the next one is answered 429 (the AWS agent's default)
    max_request_line = 8192  # bytes of "GET <target> HTTP/1.1"; longer is 414
    max_header_bytes = 16384  # bytes of the whole request head; larger is 431
    idle_timeout_s = 5  # a connection with no request in progress closes after this (uvicorn's keep-alive default)
    request_timeout_s = 10  # from a request's first byte to its last; slower is 408 (slow-client defence)

    def __init__(self, **values):
        for key, value in values.items():
            if not hasattr(Limits, key):
                raise TypeError(f"unknown limit {key}")
            setattr(self, key, value)


def default_max_inbound(concurrency: int) -> int:
    return max(Limits.max_connections, CONNECTIONS_PER_INVOCATION * concurrency)


def read_limits(r: _Reader, concurrency: int = 0) -> Limits:
    d = Limits
    return Limits(
        max_connections=r.integer(
            "PSCACHE_MAX_INBOUND_CONNECTIONS", default_max_inbound(concurrency), 1, 100000, clamp=False,
            default_text=f"{Limits.max_connections}, or {CONNECTIONS_PER_INVOCATION} x AWS_LAMBDA_MAX_CONCURRENCY "
                         "when that is more"),
        max_request_line=r.integer("PSCACHE_MAX_REQUEST_LINE_BYTES", d.max_request_line, 256, 1048576, clamp=False),
        max_header_bytes=r.integer("PSCACHE_MAX_HEADER_BYTES", d.max_header_bytes, 1024, 1048576, clamp=False),
        idle_timeout_s=r.integer("PSCACHE_IDLE_TIMEOUT_SECONDS", d.idle_timeout_s, 1, 3600, clamp=False, unit="s"),
        request_timeout_s=r.integer("PSCACHE_REQUEST_TIMEOUT_SECONDS", d.request_timeout_s, 1, 3600, clamp=False, unit="s"),
    )


def extension_name(environ: dict, argv0: str) -> str:
    """The registered name must equal the launched file's name (Lambda checks it)."""
    override = (environ.get("PSCACHE_EXTENSION_NAME") or "").strip()
    if override:
        return override
    base = os.path.basename(argv0)
    # `python -m app` reports app/__main__.py; a launcher script sets PSCACHE_EXTENSION_NAME.
    if not base or base in ("__main__.py", "-c", "-m"):
        return "pscache"
    return base


def runtime_api(environ: dict) -> str | None:
    return (environ.get("AWS_LAMBDA_RUNTIME_API") or "").strip() or None


def init_type(environ: dict) -> str:
    return (environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") or "").strip().lower()


def max_concurrency(environ: dict) -> int:
    """Invocations one environment serves at once under Managed Instances; 0 when absent or not a number."""
    raw = (environ.get("AWS_LAMBDA_MAX_CONCURRENCY") or "").strip()
    return int(raw) if raw.isdigit() else 0


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers(init: str, concurrency: int, cores: int | None = None) -> int:
    """One process outside Managed Instances; under it, one per INVOCATIONS_PER_WORKER concurrent invocations,
    at most one per usable core (cores: usable_cores())."""
    if init != LMI:
        return 1
    cores = cores or usable_cores()
    wanted = -(-concurrency // INVOCATIONS_PER_WORKER) if concurrency else cores
    return max(1, min(wanted, cores, MAX_WORKERS))


def memory_mb(environ: dict) -> int:
    """The function's memory size as Lambda sets it; 0 when absent or not a number (not ours to reject)."""
    raw = (environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or "").strip()
    return int(raw) if raw.isdigit() else 0


# The SDK's own variables, in botocore's order: the first one set is the bundle. Extensions inherit them from the
# function's environment, so they are not pscache's to reject, only to check.
CA_BUNDLE_VARIABLES = ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE")


def ca_bundle(environ: dict) -> tuple[str, str] | None:
    for name in CA_BUNDLE_VARIABLES:
        if environ.get(name):
            return name, environ[name]
    return None


ENDPOINT_VARIABLES = {"ssm": "AWS_ENDPOINT_URL_SSM", "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER"}
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


def points_at_self(url: str, port: int) -> bool:
    """Whether an endpoint URL is pscache's own port on loopback: the function's SDK reading through pscache
    (its wire front), a variable every extension inherits from the function, not an upstream to call."""
    rest = url.strip().lower().partition("://")[2].split("/", 1)[0]
    host, _, given = rest.rpartition(":") if not rest.endswith("]") else (rest, "", "")
    if not host:
        host, given = rest, ""
    default = "443" if url.strip().lower().startswith("https") else "80"
    return host in _LOOPBACK_HOSTS and (given or default) == str(port)


def configured_endpoint(environ: dict, service: str, port: int) -> str | None:
    """The endpoint botocore would use for service (its service variable, else AWS_ENDPOINT_URL), skipping any that
    is pscache itself; None: AWS's own endpoint."""
    if (environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or "").strip().lower() == "true":
        return None
    for variable in (ENDPOINT_VARIABLES[service], "AWS_ENDPOINT_URL"):
        url = (environ.get(variable) or "").strip()
        if url and not points_at_self(url, port):
            return url
    return None


def self_endpoints(environ: dict, port: int) -> dict:
    """service -> the endpoint pscache calls instead (None: AWS's own), for each service whose endpoint variable
    points at pscache: its client must ignore that variable, or every miss would loop back into pscache."""
    looped = {}
    for service, variable in ENDPOINT_VARIABLES.items():
        own = [environ.get(v) or "" for v in (variable, "AWS_ENDPOINT_URL")]
        if any(url.strip() and points_at_self(url, port) for url in own):
            looped[service] = configured_endpoint(environ, service, port)
    return looped


def upstream_tls(environ: dict, port: int = 2773) -> bool:
    """Whether either client will speak TLS, so load a CA bundle: botocore's endpoint variables, else AWS's https."""
    for service in ENDPOINT_VARIABLES:
        if not (configured_endpoint(environ, service, port) or "").lower().startswith("http://"):
            return True
    return False


def ca_bundle_problem(bundle: tuple[str, str] | None) -> str | None:
    """Why the CA bundle cannot be loaded, naming the variable and the path; None when it can (or none is set)."""
    if bundle is None:
        return None
    name, path = bundle
    if not os.path.exists(path):
        reason = "no such file or folder"
    elif not os.access(path, os.R_OK):
        reason = "not readable by this process"
    else:
        return None
    return f"{name}={path}: {reason}; AWS's certificates are verified with this CA bundle, so no fetch can succeed"


def default_cache_max_bytes(memory: int) -> int:
    if not memory:
        return DEFAULT_CACHE_MAX_BYTES
    return min(DEFAULT_CACHE_MAX_BYTES, memory * 1024 * 1024 // CACHE_SHARE_OF_MEMORY)


def _read(r: _Reader, env) -> dict:
    """Every setting of env through r: the Settings fields they give. The one list of pscache's settings."""
    port = r.integer("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 2773, 1, 65535, clamp=False)
    values = dict(
        port=port,
        cache_enabled=r.boolean("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", True),
        cache_size=r.integer("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", 1000, 0, MAX_CACHE_SIZE, clamp=True),
        max_connections=r.integer("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", 3, 1, None, clamp=False),
        log_level=r.choice("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "info", LOG_LEVELS, {"warning": "warn"}),
    )
    max_ttl = r.integer(MAX_TTL, MAX_TTL_SECONDS, MAX_TTL_SECONDS, TTL_CEILING_LIMIT, clamp=False, unit="s")
    memory = memory_mb(env)
    concurrency = max_concurrency(env)
    ssm_ttl = r.integer("SSM_PARAMETER_STORE_TTL", 300, 0, max_ttl, clamp=True, unit="s", high_from=MAX_TTL)
    secrets_ttl = r.integer("SECRETS_MANAGER_TTL", 300, 0, max_ttl, clamp=True, unit="s", high_from=MAX_TTL)
    # Hit workers answer only from the cache: without one, every request would only cost them a relay.
    caching = any(caches(values["cache_enabled"], values["cache_size"], ttl) for ttl in (ssm_ttl, secrets_ttl))
    values.update(
        max_ttl=max_ttl,
        ssm_ttl=ssm_ttl,
        secrets_ttl=secrets_ttl,
        ssm_timeout_ms=r.integer("SSM_PARAMETER_STORE_TIMEOUT_MILLIS", 0, 0, None, clamp=False, unit="ms"),
        secrets_timeout_ms=r.integer("SECRETS_MANAGER_TIMEOUT_MILLIS", 0, 0, None, clamp=False, unit="ms"),
        memory_mb=memory,
        cache_max_bytes=r.integer(
            "PSCACHE_CACHE_MAX_BYTES", default_cache_max_bytes(memory), 0, 1 << 32, clamp=False,
            default_text=f"1/{CACHE_SHARE_OF_MEMORY} of AWS_LAMBDA_FUNCTION_MEMORY_SIZE (MB), at most "
                         f"{DEFAULT_CACHE_MAX_BYTES} (also outside Lambda)"),
        sdk_load=r.choice("PSCACHE_SDK_LOAD", "auto", SDK_LOADS, {}),
        stale_if_error=r.integer("PSCACHE_STALE_IF_ERROR", 0, 0, TTL_CEILING_LIMIT, clamp=False, unit="s"),
        refresh_ahead_percent=r.integer("PSCACHE_REFRESH_AHEAD_PERCENT", 0, 0, 90, clamp=False, unit="%"),
        ttl_jitter_percent=r.integer("PSCACHE_TTL_JITTER_PERCENT", 0, 0, MAX_TTL_JITTER_PERCENT, clamp=False,
                                     unit="%"),
        retry_mode=r.choice("PSCACHE_RETRY_MODE", "standard", RETRY_MODES, {}),
        max_attempts=r.integer("PSCACHE_MAX_ATTEMPTS", 3, 1, MAX_ATTEMPTS_LIMIT, clamp=False),
        prefetch=r.prefetch("PSCACHE_PREFETCH"),
        negative_ttl=r.integer("PSCACHE_NEGATIVE_TTL", 0, 0, max_ttl, clamp=False, unit="s", high_from=MAX_TTL),
        allowed_role_arns=r.role_arns("PSCACHE_ALLOWED_ROLE_ARNS"),
        role_external_id=r.external_id("PSCACHE_ROLE_EXTERNAL_ID"),
        metrics_emf=r.boolean("PSCACHE_METRICS_EMF", False),
        metrics_every_invokes=r.integer("PSCACHE_METRICS_EVERY_INVOKES", 0, 0, None, clamp=False),
        max_concurrency=concurrency,
        workers=r.integer(
            "PSCACHE_WORKERS", default_workers(init_type(env), concurrency) if caching else 1, 1,
            MAX_WORKERS,
            clamp=False, default_text=f"1; under Managed Instances one per {INVOCATIONS_PER_WORKER} of "
                                      "AWS_LAMBDA_MAX_CONCURRENCY, at most one per usable core (1 without a cache)"),
        limits=read_limits(r, concurrency),
    )
    # Read by extension_name() (also before load, for reporting a ConfigError), listed here with the rest.
    r.described.append(("PSCACHE_EXTENSION_NAME", "the launched file's name", "any name"))
    return values


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, allowed values) of every setting, as load() reads them: `pscache --help`."""
    r = _Reader({})
    _read(r, {})
    return r.described


def load(environ: dict | None = None, argv0: str | None = None) -> Settings:
    """Parse the environment into Settings, or raise ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    r = _Reader(env)
    values = _read(r, env)
    if r.problems:
        raise ConfigError(r.problems)
    port = values["port"]
    # SnapStart has no AWS_SESSION_TOKEN; the container token then proves the caller runs in the sandbox.
    token = env.get("AWS_SESSION_TOKEN") or env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or None
    return Settings(
        **values,
        ca_bundle=ca_bundle(env),
        upstream_tls=upstream_tls(env, port),
        self_endpoints=self_endpoints(env, port),
        extension_name=extension_name(env, sys.argv[0] if argv0 is None else argv0),
        runtime_api=runtime_api(env),
        init_type=init_type(env),
        token=token,
        sources=tuple(r.sources),
        warnings=tuple(r.warnings),
    )
