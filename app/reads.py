"""What each kind of read fetches, and the cache entries it makes.

Every fetch returns a Fetched: the entries it produced under the keys that were
asked for, the extra entries the same call brought (the items of a path read),
and what the upstream said does not exist (batch reads only; a single read
raises 404). Each entry is also reachable by the Name and ARN in the answer,
so a value read by name is a hit when asked for by ARN, and the reverse.
"""

from __future__ import annotations

import time
from typing import Hashable

from app import render
from app.cache import Entry, jittered_ttl
from app.config import Settings
from app.errors import ApiError
from app.query import PATH_KEY_LENGTH, ParameterRequest, PathRequest, SecretRequest


class Fetched:
    __slots__ = ("found", "extras", "missing")

    def __init__(self):
        self.found: dict[Hashable, tuple[Entry, list]] = {}  # requested key -> (entry, aliases)
        self.extras: list[tuple[Hashable, Entry, list]] = []  # brought along, matched to no requested key
        self.missing: list = []  # invalid parameter names, or BatchGetSecretValue error entries

    def add(self, requested: Hashable | None, own_key: Hashable, entry: Entry, aliases: list) -> None:
        """An entry under the key that asked for it, or under its own key if no requested key matched it."""
        if requested is None:
            self.extras.append((own_key, entry, aliases))
        else:
            self.found[requested] = (entry, aliases)


def _idents(output: dict) -> list[str]:
    return [v for v in (output.get("Name"), output.get("ARN")) if v]


def _names_of(ident: str) -> set[str]:
    """What a read of ident (a name, path or ARN) answers for: an ARN also for the name(s) it can stand for, so
    that invalidating or writing the name drops a negative entry read by ARN (there is no answer to learn it from)."""
    names = {ident}
    parts = ident.split(":", 5)
    if ident.startswith("arn:") and len(parts) == 6:
        resource = parts[5]
        if resource.startswith("parameter/"):
            name = resource[len("parameter"):]  # "/app/x"; "/plain" is also the ARN of "plain"
            names.update((name, name[1:]) if name.count("/") == 1 else (name,))
        elif resource.startswith("secret:"):
            name = resource[len("secret:"):]
            names.update((name, name[:-7]) if len(name) > 7 and name[-7] == "-" else (name,))  # "-" + 6 random
    return names


class Reads:
    def __init__(self, settings: Settings, upstream, clock=time.monotonic):
        self._settings = settings
        self._upstream = upstream
        self._clock = clock

    def _ttl(self, service: str) -> float:
        return jittered_ttl(self._settings.ttl_for(service), self._settings.ttl_jitter_percent)

    def _parameter(self, parameter: dict, selector: str, decrypt: bool, role) -> tuple[Entry, list]:
        entry = Entry(render.parameter_item(parameter), "parameter", self._clock(), self._ttl("ssm"),
                      _idents(parameter))
        return entry, [("ssm", ident, selector, decrypt, role) for ident in entry.idents]

    def _secret(self, output: dict, version_id, version_stage, role) -> tuple[Entry, list]:
        entry = Entry(render.secret_item(output), "secret", self._clock(), self._ttl("secretsmanager"),
                      _idents(output))
        return entry, [("secretsmanager", ident, version_id, version_stage, role) for ident in entry.idents]

    def negative(self, key: Hashable, err, ttl: float) -> Entry:
        """A negative entry: the upstream's answer about the item under key, kept for ttl (PSCACHE_NEGATIVE_TTL)."""
        ident = key[2] if len(key) == PATH_KEY_LENGTH else key[1]
        kept = ApiError(err.status, err.code, err.message)  # without the headers of the answer that carried it
        return Entry(b"", "error", self._clock(), ttl, _names_of(ident), kept)

    async def one(self, keys: list) -> Fetched:
        """A single read: the key says which (see query.*.cache_key)."""
        (key,) = keys
        fetched = Fetched()
        if key[0] == "secretsmanager":
            request = SecretRequest(*key[1:])
            output = await self._upstream.get_secret(request)
            fetched.found[key] = self._secret(output, request.version_id, request.version_stage, request.role)
        elif len(key) == PATH_KEY_LENGTH:
            await self._path(PathRequest(*key[2:]), key, fetched)
        else:
            request = ParameterRequest(*key[1:])
            parameter = await self._upstream.get_parameter(request)
            fetched.found[key] = self._parameter(parameter, request.selector, request.with_decryption, request.role)
        return fetched

    async def _path(self, request: PathRequest, key, fetched: Fetched) -> None:
        parameters = await self._upstream.get_parameters_by_path(request)
        items, idents = [], {request.path}
        decrypt, role = request.with_decryption, request.role
        for parameter in parameters:
            entry, aliases = self._parameter(parameter, "", decrypt, role)
            fetched.extras.append((("ssm", parameter["Name"], "", decrypt, role), entry, aliases))
            items.append(entry.item)
            idents.update(entry.idents)
        # The whole answer is an entry too (a path cannot be answered from single entries: one may be new);
        # it answers for every name in it, so invalidating one of them drops it.
        body = Entry(render.path_body(items), "body", self._clock(), self._ttl("ssm"), idents)
        fetched.found[key] = (body, [])

    async def parameters(self, keys: list) -> Fetched:
        """Parameter keys of one withDecryption value and one role, through GetParameters."""
        decrypt, role = keys[0][3], keys[0][4]
        names = [key[1] + key[2] for key in keys]
        parameters, invalid = await self._upstream.get_parameters(names, decrypt, role)
        fetched = Fetched()
        fetched.missing = invalid
        wanted = {(key[1], key[2]): key for key in keys}
        for parameter in parameters:
            selector = parameter.get("Selector") or ""
            key = None
            for ident in _idents(parameter):
                key = wanted.pop((ident, selector), None) or wanted.pop((ident, f":{parameter.get('Version')}"), None)
                if key is not None:
                    selector = key[2]
                    break
            entry, aliases = self._parameter(parameter, selector, decrypt, role)
            fetched.add(key, ("ssm", parameter["Name"], selector, decrypt, role), entry, aliases)
        return fetched

    async def secrets(self, keys: list) -> Fetched:
        """Secret keys without a version and of one role, through BatchGetSecretValue."""
        role = keys[0][4]
        values, errors = await self._upstream.batch_get_secrets([key[1] for key in keys], role)
        fetched = Fetched()
        fetched.missing = errors
        wanted = {key[1]: key for key in keys}
        for output in values:
            key = next((wanted.pop(i) for i in _idents(output) if i in wanted), None)
            entry, aliases = self._secret(output, None, None, role)
            fetched.add(key, ("secretsmanager", output["Name"], None, None, role), entry, aliases)
        return fetched
