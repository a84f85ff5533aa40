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
from app.query import ParameterRequest, PathRequest, SecretRequest


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


class Reads:
    def __init__(self, settings: Settings, upstream, clock=time.monotonic):
        self._settings = settings
        self._upstream = upstream
        self._clock = clock

    def _ttl(self, service: str) -> float:
        return jittered_ttl(self._settings.ttl_for(service), self._settings.ttl_jitter_percent)

    def _parameter(self, parameter: dict, selector: str, decrypt: bool) -> tuple[Entry, list]:
        entry = Entry(render.parameter_item(parameter), "parameter", self._clock(), self._ttl("ssm"),
                      _idents(parameter))
        return entry, [("ssm", ident, selector, decrypt) for ident in entry.idents]

    def _secret(self, output: dict, version_id, version_stage) -> tuple[Entry, list]:
        entry = Entry(render.secret_item(output), "secret", self._clock(), self._ttl("secretsmanager"),
                      _idents(output))
        return entry, [("secretsmanager", ident, version_id, version_stage) for ident in entry.idents]

    async def one(self, keys: list) -> Fetched:
        """A single read: the key says which (see query.*.cache_key)."""
        (key,) = keys
        fetched = Fetched()
        if key[0] == "secretsmanager":
            _, secret_id, version_id, version_stage = key
            output = await self._upstream.get_secret(SecretRequest(secret_id, version_id, version_stage))
            fetched.found[key] = self._secret(output, version_id, version_stage)
        elif len(key) == 4:
            _, name, selector, decrypt = key
            parameter = await self._upstream.get_parameter(ParameterRequest(name, selector, decrypt))
            fetched.found[key] = self._parameter(parameter, selector, decrypt)
        else:
            await self._path(PathRequest(*key[2:]), key, fetched)
        return fetched

    async def _path(self, request: PathRequest, key, fetched: Fetched) -> None:
        parameters = await self._upstream.get_parameters_by_path(request)
        items, idents = [], {request.path}
        for parameter in parameters:
            entry, aliases = self._parameter(parameter, "", request.with_decryption)
            fetched.extras.append((("ssm", parameter["Name"], "", request.with_decryption), entry, aliases))
            items.append(entry.item)
            idents.update(entry.idents)
        # The whole answer is an entry too (a path cannot be answered from single entries: one may be new);
        # it answers for every name in it, so invalidating one of them drops it.
        body = Entry(render.path_body(items), "body", self._clock(), self._ttl("ssm"), idents)
        fetched.found[key] = (body, [])

    async def parameters(self, keys: list) -> Fetched:
        """Parameter keys of one withDecryption value, through GetParameters."""
        decrypt = keys[0][3]
        names = [name + selector for _, name, selector, _ in keys]
        parameters, invalid = await self._upstream.get_parameters(names, decrypt)
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
            entry, aliases = self._parameter(parameter, selector, decrypt)
            fetched.add(key, ("ssm", parameter["Name"], selector, decrypt), entry, aliases)
        return fetched

    async def secrets(self, keys: list) -> Fetched:
        """Secret keys without a version, through BatchGetSecretValue."""
        values, errors = await self._upstream.batch_get_secrets([key[1] for key in keys])
        fetched = Fetched()
        fetched.missing = errors
        wanted = {key[1]: key for key in keys}
        for output in values:
            key = next((wanted.pop(i) for i in _idents(output) if i in wanted), None)
            entry, aliases = self._secret(output, None, None)
            fetched.add(key, ("secretsmanager", output["Name"], None, None), entry, aliases)
        return fetched
