"""Answers reads from the cache or the upstream, so that the function waits as little as possible.

- Single flight: a key being fetched is not fetched again; later readers wait for that fetch
  (a prefetch, a batch or a refresh counts) and get its answer, error included.
- Stale if error: when the upstream fails transiently, an expired entry still within
  PSCACHE_STALE_IF_ERROR is served, marked stale. Not-found and access errors are never masked.
- Refresh ahead: an entry that was read and is in the last PSCACHE_REFRESH_AHEAD_PERCENT of its
  TTL is refetched in the background, on a hit or when main reports an INVOKE.
- Negative entries: with PSCACHE_NEGATIVE_TTL, a single read's not-found or denial is cached under the read's key
  and answered as it came, marked X-Pscache-Negative. Batch reads report missing items in their own answers, so
  they neither use nor make negative entries.
Fetches run as tasks of their own, so a reader that goes away cancels nobody else's answer.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Hashable
from urllib.parse import quote

from app import log, render
from app.cache import Cache, Entry
from app.config import Settings
from app.errors import ApiError
from app.query import PATH_KEY_LENGTH, parse_parameter, parse_path, parse_secret
from app.reads import Fetched, Reads
from app.stats import Stats

Fetch = Callable[[list], Awaitable[Fetched]]
# Throttling, 5xx, timeouts, lost connections: worth an old value. Credentials and region are not transient.
TRANSIENT_STATUSES = {429, 500, 502, 503, 504}
NOT_TRANSIENT = {"NoCredentials", "NoRegion"}
# While the upstream is failing, an expired entry is served stale at once and retried in the background
# at most this often, so an outage costs readers no waiting after its first failure.
RETRY_STALE_S = 1.0


def transient(err: ApiError) -> bool:
    return err.status in TRANSIENT_STATUSES and err.code not in NOT_TRANSIENT


class Result:
    __slots__ = ("entry", "state", "reason")

    def __init__(self, entry: Entry, state: str, reason: str = ""):
        self.entry = entry
        self.state = state  # hit, miss, stale or coalesced
        self.reason = reason  # why a stale value was served

    @property
    def body(self) -> bytes:
        return render.BODIES[self.entry.kind](self.entry.item)


class Outcome:
    """A multi-key read: a Result per requested key, plus what the fetches brought along or did not find."""

    def __init__(self):
        self.results: dict[Hashable, Result] = {}
        self.extras: list[Entry] = []
        self.missing: list = []

    def items(self, keys: list) -> list[bytes]:
        """The cached items answered, in the order of keys, then those the fetches brought along."""
        found = [self.results[k].entry.item for k in keys if k in self.results]
        return found + [entry.item for entry in self.extras]


# The state a multi-key answer reports: the least cached one among its items.
_STATE_ORDER = ("stale", "miss", "coalesced", "hit")


def cache_headers(results: list[Result], now: float) -> dict[str, str]:
    """X-Pscache-Cache (the least cached of the items), X-Pscache-Age and X-Pscache-Stale-Reason of an answer."""
    states = {r.state for r in results}
    headers = {"X-Pscache-Cache": next((s for s in _STATE_ORDER if s in states), "miss")}
    if results:
        headers["X-Pscache-Age"] = str(int(max(now - r.entry.fetched for r in results)))
    reasons = sorted({r.reason for r in results if r.reason})
    if reasons:
        headers["X-Pscache-Stale-Reason"] = ",".join(reasons)
    return headers


class Loader:
    def __init__(self, settings: Settings, cache: Cache, reads: Reads, stats: Stats):
        self.settings = settings
        self.cache = cache
        self.reads = reads
        self.stats = stats
        self._clock = cache.clock  # one clock for expiry and age
        self._inflight: dict[Hashable, asyncio.Future] = {}  # key -> future of its Entry (None: not obtained)
        self._background: set[asyncio.Future] = set()
        self.mirror = None  # with PSCACHE_WORKERS > 1: where fresh answers are published for the hit workers

    def share(self, key: Hashable, result: Result, body: bytes) -> None:
        """Publish a single read's answer to the hit workers, while it is the cache's and fresh: they answer it as
        a hit until its expiry or, with refresh ahead, until it is due (the next read then reaches this process)."""
        entry = result.entry
        if self.mirror is None or result.state == "stale" or entry.error is not None:
            return
        if not self.cache.holds(key, entry):
            return  # not kept (too large, SnapStart's INIT, no cache) or already replaced
        percent = self.settings.refresh_ahead_percent
        until = entry.fetched + entry.ttl * (100 - percent) / 100 if percent else entry.expires
        self.mirror.publish(key, entry, body, entry.fetched, until)

    def caching(self, service: str) -> bool:
        return self.settings.caching(service)

    async def read(self, key: Hashable, refresh: bool = False) -> Result:
        outcome = await self.read_many([key], self.reads.one, refresh)
        result = outcome.results[key]
        if result.entry.error is not None:
            err = result.entry.error
            headers = {**cache_headers([result], self._clock()), "X-Pscache-Negative": "true"}
            raise ApiError(err.status, err.code, err.message, headers)
        return result

    async def read_many(self, keys: list, fetch: Fetch, refresh: bool = False) -> Outcome:
        """Answer keys of one store: hits from the cache, joins of fetches in flight, one fetch for the rest."""
        outcome = Outcome()
        if not self.caching(keys[0][0]):
            fetched = await fetch(keys)
            self._collect(outcome, fetched, keys)
            return outcome
        own, waits = [], {}
        single = fetch == self.reads.one
        for key in keys:
            if not refresh:
                entry = self.cache.get(key)
                if entry is not None and entry.error is not None and not single:
                    entry = None  # a single read's negative answer: a batch asks again and reports it its own way
                if entry is not None and self.cache.fresh(entry):
                    outcome.results[key] = self._answer(Result(entry, "hit"))
                    if entry.error is None:
                        self._refresh_if_due(key, entry)
                    continue
                if entry is not None and entry.failed_at:
                    outcome.results[key] = self._answer(Result(entry, "stale", entry.failure))
                    if self._clock() - entry.failed_at >= RETRY_STALE_S:
                        self._refresh(key)
                    continue
                if key in self._inflight:
                    waits[key] = self._inflight[key]
                    continue
            own.append(key)
        if own:
            await self._fetch_into(outcome, own, fetch)
        retry = []
        for key, future in waits.items():
            try:
                entry = await asyncio.shield(future)
            except ApiError as err:
                outcome.results[key] = self._stale_or_raise(key, err)
                continue
            if entry is None:
                retry.append(key)  # the fetch we joined did not get this key (a failed or partial batch)
            else:
                outcome.results[key] = self._answer(Result(entry, "coalesced"))
        if retry:
            await self._fetch_into(outcome, retry, fetch)
        return outcome

    async def _fetch_into(self, outcome: Outcome, keys: list, fetch: Fetch) -> None:
        try:
            fetched = await asyncio.shield(self._launch(keys, fetch))
        except ApiError as err:
            for key in keys:
                outcome.results[key] = self._stale_or_raise(key, err)
            return
        self._collect(outcome, fetched, keys)

    def _collect(self, outcome: Outcome, fetched: Fetched, keys: list) -> None:
        for key in keys:
            if key in fetched.found:
                outcome.results[key] = self._answer(Result(fetched.found[key][0], "miss"))
        outcome.extras += [entry for _, entry, _ in fetched.extras]
        outcome.missing += fetched.missing

    def _answer(self, result: Result) -> Result:
        result.entry.read = True
        self.stats.count(result.state)
        if result.entry.error is not None:
            self.stats.count("negative")
        return result

    def _stale_or_raise(self, key: Hashable, err: ApiError) -> Result:
        if self.settings.stale_if_error and transient(err):
            entry = self.cache.get(key)  # kept up to stale_if_error seconds past its expiry
            if entry is not None and entry.error is None:
                if not entry.failed_at:
                    age = self._clock() - entry.fetched
                    log.warn(f"serving a stale value ({age:.0f} s old) while the upstream fails: {err.code}")
                entry.failed_at, entry.failure = self._clock(), err.code
                return self._answer(Result(entry, "stale", err.code))
        raise err

    def _launch(self, keys: list, fetch: Fetch) -> asyncio.Task:
        """Start one fetch for keys and register each key as in flight until it ends."""
        loop = asyncio.get_running_loop()
        futures = {key: loop.create_future() for key in keys}
        self._inflight.update(futures)
        task = loop.create_task(fetch(keys))

        def done(task: asyncio.Task) -> None:
            for key, future in futures.items():
                if self._inflight.get(key) is future:
                    del self._inflight[key]
            if task.cancelled():
                error: BaseException | None = ApiError(503, "Cancelled", "the fetch was cancelled (shutting down)")
            else:
                error = task.exception()
            if error is None:
                fetched = task.result()
                self._store(fetched)
            elif isinstance(error, ApiError) and error.negative and fetch == self.reads.one:
                self._store_negative(keys[0], error)
            for key, future in futures.items():
                if error is not None:
                    future.set_exception(error)
                    future.exception()  # nobody may be waiting: mark it retrieved
                else:
                    found = fetched.found.get(key)
                    future.set_result(found[0] if found else None)

        task.add_done_callback(done)
        return task

    def _store_negative(self, key: Hashable, err: ApiError) -> None:
        ttl = self.settings.negative_ttl
        if ttl and self.caching(key[0]):
            self.cache.put(key, self.reads.negative(key, err, ttl))

    def _store(self, fetched: Fetched) -> None:
        for key, (entry, aliases) in fetched.found.items():
            self.cache.put(key, entry, aliases)
        for key, entry, aliases in fetched.extras:
            self.cache.put(key, entry, aliases)

    # Refresh ahead and prefetch: work nobody waits for, started in the background.

    def _due(self, entry: Entry, now: float) -> bool:
        percent = self.settings.refresh_ahead_percent
        return bool(percent) and now >= entry.fetched + entry.ttl * (100 - percent) / 100

    def _refresh_if_due(self, key: Hashable, entry: Entry) -> None:
        if self._due(entry, self._clock()):
            self._refresh(key)

    def _refresh(self, key: Hashable) -> None:
        """Refetch one entry in the background, unless a fetch of it is already in flight."""
        if key not in self._inflight:
            self._background_fetch([key], self.reads.one, "refreshed_ahead")

    def refresh_due(self) -> int:
        """Refetch every entry that was read and is near (or past) its expiry. main calls this on INVOKE:
        the environment is thawed then, and between invokes no timer would fire."""
        if not self.settings.refresh_ahead_percent:
            return 0
        now = self._clock()
        due = [k for k, e in self.cache.entries()
               if e.read and e.error is None and self._due(e, now) and k not in self._inflight]
        for key in due:
            self._refresh(key)
        return len(due)

    def _background_fetch(self, keys: list, fetch: Fetch, event: str) -> asyncio.Task:
        task = self._launch(keys, fetch)
        self._background.add(task)

        def done(task: asyncio.Task) -> None:
            self._background.discard(task)
            if task.cancelled():
                return
            error = task.exception()  # already logged by upstream
            if error is None:
                fetched = task.result()
                self.stats.count(event, len(fetched.found) + len(fetched.extras))
            elif isinstance(error, ApiError) and transient(error):
                for key in keys:
                    entry = self.cache.get(key)
                    if entry is not None and entry.failed_at:
                        entry.failed_at, entry.failure = self._clock(), error.code

        task.add_done_callback(done)
        return task

    async def prefetch(self, items: tuple) -> None:
        """Fetch PSCACHE_PREFETCH's items in as few calls as the APIs allow; a missing item is logged, not fatal."""
        await self.report_prefetch(self.launch_prefetch(items), len(items))

    def launch_prefetch(self, items: tuple) -> list:
        """Start the prefetch calls and mark their keys in flight before returning, so a read that comes
        right after joins them instead of fetching on its own."""
        groups: dict[tuple, list] = {}
        singles = []
        for service, ident, query in items:
            request = self._prefetch_request(service, ident, query)
            if request is None:
                continue
            key = request.cache_key
            if key in self._inflight or self.cache.get(key) is not None:
                continue
            if len(key) == PATH_KEY_LENGTH or (key[0] == "secretsmanager" and (key[2] or key[3])):
                singles.append(key)  # a path, or a versioned secret: BatchGetSecretValue cannot ask for a version
            elif key[0] == "ssm":
                groups.setdefault(("ssm", key[3], key[4]), []).append(key)  # one decryption flag and role a call
            else:
                groups.setdefault(("secretsmanager", key[4]), []).append(key)
        tasks = []
        for group, keys in groups.items():
            fetch = self.reads.parameters if group[0] == "ssm" else self.reads.secrets
            tasks.append((keys, self._background_fetch(keys, fetch, "prefetched")))
        for key in singles:
            tasks.append(([key], self._background_fetch([key], self.reads.one, "prefetched")))
        return tasks

    def _prefetch_request(self, service: str, ident: str, query: str):
        """The read a PSCACHE_PREFETCH item stands for, parsed as a request for it is; None to skip it."""
        store = "ssm" if service == "ssm-path" else service
        if not self.caching(store):
            return None
        field, parse = {"ssm": ("name", parse_parameter), "ssm-path": ("path", parse_path),
                        "secretsmanager": ("secretId", parse_secret)}[service]
        raw = f"{field}={quote(ident, safe='')}" + (f"&{query}" if query else "")
        try:
            request = parse(raw)
            if request.role is not None:
                from app import roles

                roles.check(self.settings, request.role)
        except ApiError as err:
            log.warn(f"PSCACHE_PREFETCH: skipping {service}:{ident}: {err.message}")
            return None
        return request

    async def report_prefetch(self, tasks: list, wanted: int) -> None:
        obtained = brought = 0
        for keys, task in tasks:
            try:
                fetched = await asyncio.shield(task)
            except ApiError as err:
                what = "not found" if err.status == 404 else f"failed ({err.code}); fetched on first read instead"
                log.warn(f"PSCACHE_PREFETCH: {', '.join(repr(k[1]) for k in keys)} {what}")
                continue
            if len(keys[0]) == PATH_KEY_LENGTH:
                obtained, brought = obtained + len(fetched.found), brought + len(fetched.extras)
            else:
                obtained += len(fetched.found) + len(fetched.extras)
            for missing in fetched.missing:
                shown = missing.get("SecretId") if isinstance(missing, dict) else missing
                log.warn(f"PSCACHE_PREFETCH: {shown!r} was not found")
        if tasks:
            under = f", and the {brought} parameter(s) under the path(s)" if brought else ""
            log.info(f"prefetched {obtained} of {wanted} item(s){under}")
