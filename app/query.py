"""Query strings of the two GET endpoints, read in order.

Order matters: when both `version` and `label` are given, the one that comes
first wins (AWS documents this), and for a repeated key the first value wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from app.errors import bad_request

# Go's strconv.ParseBool spellings, which the AWS extension is built on.
_TRUE = {"1", "t", "true"}
_FALSE = {"0", "f", "false"}


# Every cache key ends with the role the read is made as (roleArn=; None: pscache's own credentials), so another
# account's value never answers for this account's, and the reverse.
@dataclass(frozen=True)
class ParameterRequest:
    name: str
    selector: str  # "" or ":<version>" / ":<label>"
    with_decryption: bool
    role: str | None = None

    @property
    def full_name(self) -> str:
        return self.name + self.selector

    @property
    def cache_key(self) -> tuple:
        return ("ssm", self.name, self.selector, self.with_decryption, self.role)


@dataclass(frozen=True)
class SecretRequest:
    secret_id: str
    version_id: str | None
    version_stage: str | None
    role: str | None = None

    @property
    def cache_key(self) -> tuple:
        return ("secretsmanager", self.secret_id, self.version_id, self.version_stage, self.role)


@dataclass(frozen=True)
class PathRequest:
    path: str
    recursive: bool
    with_decryption: bool
    role: str | None = None

    @property
    def cache_key(self) -> tuple:
        # Six fields, so it never collides with a parameter's five.
        return ("ssm", "path", self.path, self.recursive, self.with_decryption, self.role)


PATH_KEY_LENGTH = 6


# A batch is split into several upstream calls anyway; this only bounds one request's work.
MAX_BATCH = 100


def split_selector(name: str) -> tuple[str, str]:
    """`/app/key:3` -> (`/app/key`, `:3`). Names cannot contain ':', so one after the last '/' starts a selector
    (the colons of an ARN all come before its '/')."""
    colon = name.rfind(":")
    if "/" not in name and name.startswith("arn:"):
        return name, ""  # not a parameter ARN: let SSM say what is wrong with it
    if colon > name.rfind("/") and colon < len(name) - 1:
        return name[:colon], name[colon:]
    return name, ""


def _pairs(raw_query: bytes | str) -> list[tuple[str, str]]:
    text = raw_query.decode("latin-1") if isinstance(raw_query, bytes) else raw_query
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise bad_request("InvalidQueryString", "the query string is not valid percent-encoded UTF-8") from None


def _first(pairs: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in pairs:
        # An empty value is treated as absent, like Go's URL.Query().Get("k") == "".
        if value != "" and key not in found:
            found[key] = value
    return found


def _flag(values: dict[str, str], key: str) -> bool:
    raw = values.get(key)
    if raw is None:
        return False
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise bad_request("InvalidParameterValue", f"{key}={raw!r} is invalid: expected true or false")


def refresh_now(raw_query: bytes | str) -> bool:
    """`refreshNow=true`: skip the cache, fetch anew and re-cache (as the Secrets Manager Agent spells it)."""
    return _flag(_first(_pairs(raw_query)), "refreshNow")


def json_key(raw_query: bytes | str) -> str | None:
    """`jsonKey=`: the member of a JSON secret to answer with (see app/json_pointer.py), None for the whole secret."""
    return _first(_pairs(raw_query)).get("jsonKey")


def parse_parameter(raw_query: bytes | str) -> ParameterRequest:
    pairs = _pairs(raw_query)
    values = _first(pairs)
    name = values.get("name")
    if not name:
        raise bad_request("MissingParameter", "the query parameter 'name' is required")
    selector = ""
    for key, value in pairs:
        if key in ("version", "label") and value != "":
            selector = ":" + value
            break
    if not selector:
        # `name=/app/key:3` and `name=/app/key&version=3` are the same read, so one cache entry.
        name, selector = split_selector(name)
    return ParameterRequest(name, selector, _flag(values, "withDecryption"), values.get("roleArn"))


def _list(pairs: list[tuple[str, str]], key: str) -> list[str]:
    """Every value of a repeated key, each split on commas (names and secret ids cannot contain one), deduplicated."""
    seen: dict[str, None] = {}
    for k, value in pairs:
        if k == key:
            for item in value.split(","):
                if item.strip():
                    seen.setdefault(item.strip(), None)
    if not seen:
        raise bad_request("MissingParameter", f"the query parameter {key!r} is required (comma-separated, or repeated)")
    if len(seen) > MAX_BATCH:
        raise bad_request("TooManyItems", f"{len(seen)} items in {key!r}: at most {MAX_BATCH} per request")
    return list(seen)


def parameter_request(name: str, with_decryption: bool, role: str | None = None) -> ParameterRequest:
    """A read of `name` (which may end in its selector), as both fronts key it."""
    return ParameterRequest(*split_selector(name), with_decryption, role)


def parse_parameters(raw_query: bytes | str) -> list[ParameterRequest]:
    pairs = _pairs(raw_query)
    values = _first(pairs)
    decrypt, role = _flag(values, "withDecryption"), values.get("roleArn")
    return [parameter_request(name, decrypt, role) for name in _list(pairs, "names")]


def parse_path(raw_query: bytes | str) -> PathRequest:
    values = _first(_pairs(raw_query))
    path = values.get("path")
    if not path:
        raise bad_request("MissingParameter", "the query parameter 'path' is required")
    if not path.startswith("/"):
        raise bad_request("InvalidParameterValue", f"path={path!r} is invalid: a hierarchy path starts with '/'")
    return PathRequest(path, _flag(values, "recursive"), _flag(values, "withDecryption"), values.get("roleArn"))


def parse_secrets(raw_query: bytes | str) -> list[SecretRequest]:
    pairs = _pairs(raw_query)
    role = _first(pairs).get("roleArn")
    return [SecretRequest(secret_id, None, None, role) for secret_id in _list(pairs, "secretIds")]


def parse_secret(raw_query: bytes | str) -> SecretRequest:
    values = _first(_pairs(raw_query))
    secret_id = values.get("secretId")
    if not secret_id:
        raise bad_request("MissingParameter", "the query parameter 'secretId' is required")
    return SecretRequest(secret_id, values.get("versionId"), values.get("versionStage"), values.get("roleArn"))


def parse_invalidate(raw_query: bytes | str) -> tuple[str, str] | None:
    """(store, name or ARN or path) whose entries to drop, or None for `all=true`."""
    values = _first(_pairs(raw_query))
    if _flag(values, "all"):
        return None
    if "name" in values:
        return "ssm", split_selector(values["name"])[0]
    if "path" in values:
        return "ssm", values["path"]
    if "secretId" in values:
        return "secretsmanager", values["secretId"]
    raise bad_request("MissingParameter", "give one of name, path, secretId, or all=true")
