"""Response bodies in the AWS extension's exact shape.

The AWS extension serialises the Go SDK v2 output structs with encoding/json:
fields in declaration order, null for absent ones, RFC 3339 UTC timestamps,
base64 for bytes, "ResultMetadata": {}. Rendering happens once per fetch; the
cache keeps the bytes.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

PARAMETER_FIELDS = ("ARN", "DataType", "LastModifiedDate", "Name", "Selector", "SourceResult", "Type", "Value", "Version")
SECRET_FIELDS = ("ARN", "CreatedDate", "Name", "SecretBinary", "SecretString", "VersionId", "VersionStages")

# Go escapes these inside strings by default; matching it keeps bodies byte-identical.
_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def rfc3339(value: datetime) -> str:
    """Go's RFC3339Nano: UTC, 'Z', fraction without trailing zeros (none if zero)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _dumps(document) -> bytes:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_GO_ESCAPES).encode("utf-8")


def parameter_item(parameter: dict) -> bytes:
    """One Parameter object, as in GetParameter's `Parameter` and GetParameters' `Parameters`."""
    return _dumps({key: _plain(parameter.get(key)) for key in PARAMETER_FIELDS})


def secret_item(output: dict) -> bytes:
    """One secret value, as GetSecretValue's fields and BatchGetSecretValue's `SecretValues` entries."""
    return _dumps({key: _plain(output.get(key)) for key in SECRET_FIELDS})


_META = b',"ResultMetadata":{}}'

# How a cached item becomes the body of a single read: GetParameter wraps it, GetSecretValue extends it.
BODIES = {
    "parameter": lambda item: b'{"Parameter":' + item + _META,
    "secret": lambda item: item[:-1] + _META,
    "body": lambda item: item,
}


def parameter_body(parameter: dict) -> bytes:
    return BODIES["parameter"](parameter_item(parameter))


def secret_body(output: dict) -> bytes:
    return BODIES["secret"](secret_item(output))


def secret_string_body(item: bytes, text: str) -> bytes:
    """A cached secret's GetSecretValue body with its SecretString replaced by text (jsonKey=)."""
    document = json.loads(item)
    document["SecretString"] = text
    return BODIES["secret"](_dumps(document))


def _array(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def parameters_body(items: list[bytes], invalid: list[str]) -> bytes:
    """GetParameters' shape: InvalidParameters, Parameters, ResultMetadata."""
    return b'{"InvalidParameters":' + _dumps(invalid) + b',"Parameters":' + _array(items) + _META


def path_body(items: list[bytes]) -> bytes:
    """GetParametersByPath's shape with every page merged, so no NextToken."""
    return b'{"NextToken":null,"Parameters":' + _array(items) + _META


def secrets_body(items: list[bytes], errors: list[dict]) -> bytes:
    """BatchGetSecretValue's shape: Errors (ErrorCode, ErrorMessage, SecretId), NextToken, SecretValues."""
    shaped = [{k: e.get(k) for k in ("ErrorCode", "ErrorMessage", "SecretId")} for e in errors]
    return b'{"Errors":' + _dumps(shaped) + b',"NextToken":null,"SecretValues":' + _array(items) + _META
