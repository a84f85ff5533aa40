"""One member of a JSON secret (`jsonKey=` on GET /secretsmanager/get), taken from the cached secret per request.

A key that starts with '/' is a JSON Pointer (RFC 6901): `/db/host`, `/hosts/0`, with `~1` for '/' and `~0` for
'~' inside a member name. Any other key names a top-level member as written (`password`). The whole secret is what
is cached, so every key of it is answered from one entry. No message here contains the secret or any part of it.
"""

from __future__ import annotations

import json

from app.errors import bad_request


def _invalid(message: str):
    return bad_request("InvalidJsonKey", message)


def parse(key: str) -> list[str]:
    """The member names (or array indexes) along the key, unescaped; 400 InvalidJsonKey for a malformed pointer."""
    if not key.startswith("/"):
        return [key]
    tokens = key[1:].split("/")
    for token in tokens:
        tilde = token.find("~")
        while tilde != -1:
            if token[tilde + 1:tilde + 2] not in ("0", "1"):
                raise _invalid(f"jsonKey={key!r} is not a valid JSON Pointer: '~' must be followed by 0 or 1 "
                               "(~0 stands for '~', ~1 for '/')")
            tilde = token.find("~", tilde + 2)
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def _index(token: str, length: int) -> int | None:
    """An RFC 6901 array index: ASCII digits without a leading zero, within the array."""
    if token.isascii() and token.isdigit() and (token == "0" or token[0] != "0") and int(token) < length:
        return int(token)
    return None


def member(item: bytes, tokens: list[str], key: str) -> str:
    """The member of a cached secret (render.secret_item's bytes) at tokens: a string as it is, anything else as
    its JSON text. 400 InvalidJsonKey when the secret is binary, not a JSON object, or has no such member."""
    text = json.loads(item).get("SecretString")
    if text is None:
        raise _invalid("jsonKey selects from a SecretString, and this secret has a SecretBinary")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise _invalid("jsonKey selects from a JSON object, and this secret's SecretString is not one")
    for token in tokens:
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and _index(token, len(value)) is not None:
            value = value[_index(token, len(value))]
        else:
            raise _invalid(f"the secret has no member at jsonKey={key!r}")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
