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


@dataclass(frozen=True)
class ParameterRequest:
    name: str
    selector: str  # "" or ":<version>" / ":<label>"
    with_decryption: bool

    @property
    def full_name(self) -> str:
        return self.name + self.selector

    @property
    def cache_key(self) -> tuple:
        return ("ssm", self.name, self.selector, self.with_decryption)


@dataclass(frozen=True)
class SecretRequest:
    secret_id: str
    version_id: str | None
    version_stage: str | None

    @property
    def cache_key(self) -> tuple:
        return ("secretsmanager", self.secret_id, self.version_id, self.version_stage)


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
    raw_decrypt = values.get("withDecryption")
    if raw_decrypt is None:
        with_decryption = False
    elif raw_decrypt.lower() in _TRUE:
        with_decryption = True
    elif raw_decrypt.lower() in _FALSE:
        with_decryption = False
    else:
        raise bad_request(
            "InvalidParameterValue", f"withDecryption={raw_decrypt!r} is invalid: expected true or false"
        )
    return ParameterRequest(name=name, selector=selector, with_decryption=with_decryption)


def parse_secret(raw_query: bytes | str) -> SecretRequest:
    values = _first(_pairs(raw_query))
    secret_id = values.get("secretId")
    if not secret_id:
        raise bad_request("MissingParameter", "the query parameter 'secretId' is required")
    return SecretRequest(
        secret_id=secret_id,
        version_id=values.get("versionId"),
        version_stage=values.get("versionStage"),
    )
