"""Which callers prove they run in this execution environment: the tokens and credentials pscache accepts.

Lambda gives the function and its extensions the same execution-role credentials, through the same provider
chain (environment variables on demand; the container credentials endpoint under SnapStart, in ECS, ...). So a
caller is local if its `X-Aws-Parameters-Secrets-Token` is

- `AWS_SESSION_TOKEN`, or the static `AWS_CONTAINER_AUTHORIZATION_TOKEN` (settings.token), or
- the session token of credentials pscache's own provider chain handed it: what AWS's documentation tells
  SnapStart functions to send (the SDK chain's session token, read in the handler);

and the wire front's SigV4 signature must verify with such credentials. They change: a SnapStart restore brings
new ones, and the SDKs refresh them before they expire. The function may meet new ones first (its SDK refreshed
first), or still hold the old ones. So every set pscache has seen is kept until it expires, and a caller matching
none makes pscache re-read the chain (once in flight at a time, at most once a second: a flood of forged tokens
costs the credentials endpoint one call a second) before it is refused. Comparisons are constant-time.
"""

from __future__ import annotations

import asyncio
import hmac
import time

REREAD_EVERY_S = 1.0
MOST_HELD = 8  # sets kept at once: a restore or a refresh adds one; old ones leave as they expire


class HeldCredentials:
    def __init__(self, upstream, static_token: str | None, clock=time.time):
        self._upstream = upstream
        self._static = static_token.encode() if static_token else None
        self._clock = clock
        self._held: list[tuple[object, float | None]] = []  # (frozen credentials, expiry in epoch s or None)
        self._reread_at = float("-inf")
        self._rereading: asyncio.Future | None = None

    async def accepts_token(self, token: bytes) -> bool:
        """Whether a token header's value proves the caller local (see the module docstring)."""
        if self._static is not None and hmac.compare_digest(token, self._static):
            return True

        def same_token(credentials) -> bool:
            return bool(credentials.token) and hmac.compare_digest(credentials.token.encode(), token)

        return await self._find(same_token) is not None

    def knows_a_token(self) -> bool:
        """Whether any token could be accepted at all (else a refusal says what is missing)."""
        return self._static is not None or any(credentials.token for credentials, _ in self._current())

    async def signing(self, key_id: str, session_token: str | None):
        """The credentials held under key_id (and, for temporary ones, session_token), or None."""

        def same_key(credentials) -> bool:
            if not hmac.compare_digest(credentials.access_key.encode(), key_id.encode("latin-1")):
                return False
            if credentials.token:  # temporary credentials: the request must carry the same session token
                return session_token is not None and hmac.compare_digest(credentials.token.encode(),
                                                                         session_token.encode("latin-1"))
            return True

        return await self._find(same_key)

    async def _find(self, matches):
        """The first held credentials that match: those seen so far, then the chain's current ones (botocore
        refreshes them near their expiry), then those of one re-read of the chain."""
        for step in (None, self._read_current, self._reread):
            if step is not None:
                await step()
            for credentials, _ in self._current():
                if matches(credentials):
                    return credentials
        return None

    def _current(self) -> list:
        now = self._clock()
        self._held = [(c, expiry) for c, expiry in self._held if expiry is None or expiry > now]
        return self._held

    def _keep(self, read) -> None:
        if read is None:
            return
        credentials, expiry = read
        self._held = [(c, e) for c, e in self._held
                      if (c.access_key, c.token) != (credentials.access_key, credentials.token)]
        self._held.insert(0, (credentials, expiry))  # newest first: the likeliest match
        del self._held[MOST_HELD:]

    async def _read_current(self) -> None:
        self._keep(await self._read(fresh=False))

    async def _reread(self) -> None:
        if self._rereading is None:
            if self._clock() - self._reread_at < REREAD_EVERY_S:
                return
            self._reread_at = self._clock()
            self._rereading = asyncio.ensure_future(self._read(fresh=True))
        rereading = self._rereading
        try:
            self._keep(await asyncio.shield(rereading))
        finally:
            if self._rereading is rereading and rereading.done():
                self._rereading = None

    async def _read(self, fresh: bool):
        try:
            return await self._upstream.credentials(fresh=fresh)
        except Exception:  # no credential source at all: only the static token can admit a caller
            return None
