"""A hit worker's ASGI app: fresh single reads from the mirror, byte for byte what the owner answers; the rest relayed.

Only the cheapest certain case is answered here: a GET of one parameter, secret or path, with the environment's
own token, no roleArn, jsonKey or refreshNow, whose answer the owner published and which is still fresh (and not
yet due for refresh ahead, which the owner's read then starts). Anything else, including every error, goes to the
owner unchanged, so there is one place that decides.
"""

from __future__ import annotations

import hmac
import time

from app.auth import given_token
from app.errors import ApiError
from app.mirror import Mirror
from app.query import json_key, parse_parameter, parse_path, parse_secret, refresh_now
from app.relay import Relay

_READS = {
    "/systemsmanager/parameters/get": parse_parameter,
    "/secretsmanager/get": parse_secret,
    "/systemsmanager/parameters/path": parse_path,
}
READS = {**_READS, **{path + "/": parse for path, parse in _READS.items()}}


class HitWorker:
    def __init__(self, token: str | None, mirror: Mirror, process: int, relay: Relay):
        self._token = token.encode() if token else None
        self.mirror = mirror
        self.process = process
        self.relay = relay

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            parse = READS.get(scope["path"])
            found = self._hit(scope, parse) if parse is not None else None
            if found is not None:
                body, age = found
                # The owner's headers for a hit, in its order (tests/test_workers.py compares the two).
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"x-pscache-cache", b"hit"), (b"x-pscache-age", str(age).encode()),
                    (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"),
                ]})
                await send({"type": "http.response.body", "body": body})
                self.mirror.count_hit(self.process)
                return
        await self.relay(scope, receive, send)

    def _hit(self, scope, parse) -> tuple[bytes, int] | None:
        if self._token is None:
            return None
        query = scope["query_string"]
        try:
            given = given_token(scope["headers"])
            if given is None or not hmac.compare_digest(given, self._token):
                return None  # missing, wrong, or a token only the owner's credential chain can vouch for
            request = parse(query)
            if request.role is not None or refresh_now(query) or json_key(query) is not None:
                return None
        except ApiError:
            return None  # the owner says what is wrong (a proxied request, a bad query)
        key = request.cache_key
        now = time.monotonic()
        found = self.mirror.lookup(key, now)
        if found is None:
            return None
        body, fetched = found
        return body, int(now - fetched)
