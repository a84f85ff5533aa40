"""The JSON 1.1 wire format of SSM and Secrets Manager, for the wire front (app/wire.py).

Cached entries hold the AWS extension's bodies (the Go SDK's shape: null for absent fields, RFC 3339 dates,
"ResultMetadata"). On the wire the services omit absent fields and send dates as epoch seconds, so each SDK
parses pscache's answer as it parses AWS's. Errors are the services' own: {"__type": code, "message": text},
the status AWS uses, and x-amzn-ErrorType, whatever shape the 2773 API's errors take.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from app.errors import ApiError

CONTENT_TYPE = "application/x-amz-json-1.1"
DATE_FIELDS = frozenset({"LastModifiedDate", "CreatedDate"})
# How each service spells the text of an error (the SDKs read either).
MESSAGE_KEY = {"ssm": "message", "secretsmanager": "Message"}


class WireError(Exception):
    """An answer in the service's error shape; never carries a secret, a token or a signature."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id  # AWS's, for a passed-through error
        self.headers = headers or {}  # pscache's own (X-Pscache-*), for an error answered from the cache


def from_api_error(err: ApiError) -> WireError:
    """A read's failure as the service would answer it: AWS's JSON services answer every client error with 400
    (not found, denied, throttled, invalid); pscache's own upstream failures keep their 5xx, which SDKs retry."""
    return WireError(400 if 400 <= err.status < 500 else err.status, err.code, err.message, headers=err.headers)


def error_body(err: WireError, service: str) -> bytes:
    return json.dumps({"__type": err.code, MESSAGE_KEY.get(service, "message"): err.message}).encode()


def dumps(document) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()  # RFC 3339 with 'Z' (Python 3.11+)


def _from_cached(value):
    if isinstance(value, dict):
        return {k: _epoch(v) if k in DATE_FIELDS and isinstance(v, str) else _from_cached(v)
                for k, v in value.items() if v is not None and k != "ResultMetadata"}
    if isinstance(value, list):
        return [_from_cached(v) for v in value]
    return value


def from_cached(body: bytes) -> bytes:
    """A 2773 API body (as cached) as the service's wire answer: absent fields dropped, dates as epoch seconds."""
    return dumps(_from_cached(json.loads(body)))


# -- the pass-through: wire input -> botocore parameters, botocore output -> wire answer --------------------

def to_params(shape, value):
    """A JSON 1.1 input document as botocore parameters: blobs are base64 on the wire, bytes for botocore.
    Members the model does not know stay, so botocore's validation names them."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: to_params(members.get(k), v) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [to_params(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_params(shape.value, v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise WireError(400, "SerializationException", "a blob member is not valid base64") from None
    return value


def _from_output(value):
    if isinstance(value, dict):
        return {k: _from_output(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_output(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def from_output(output: dict) -> bytes:
    """A botocore output (parsed from AWS's answer) back in the wire format AWS sent it in."""
    return dumps(_from_output({k: v for k, v in output.items() if k != "ResponseMetadata"}))
