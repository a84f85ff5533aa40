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


def _dumps(document: dict) -> bytes:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_GO_ESCAPES).encode("utf-8")


def parameter_body(parameter: dict) -> bytes:
    shaped = {key: _plain(parameter.get(key)) for key in PARAMETER_FIELDS}
    return _dumps({"Parameter": shaped, "ResultMetadata": {}})


def secret_body(output: dict) -> bytes:
    shaped = {key: _plain(output.get(key)) for key in SECRET_FIELDS}
    shaped["ResultMetadata"] = {}
    return _dumps(shaped)
