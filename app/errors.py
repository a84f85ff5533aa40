"""The one error pscache answers with: a status, a code and a message.

The body is plain text, `<code>: <message>`, unless the request's Accept names application/json; then it is
`{"__type": code, "message": text}`. A client written for the AWS extension (whose error bodies are text) and
that decodes any answer into its success shape then fails to decode, instead of reading an empty value.
The code is also in the X-Amzn-ErrorType header, whatever the body, as AWS services send it.
"""

from __future__ import annotations

import json

TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


class ApiError(Exception):
    negative = False  # an AWS answer about the item itself, which PSCACHE_NEGATIVE_TTL may cache (app/upstream.py)

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def render(self, accept: bytes | None) -> tuple[bytes, str]:
        """The body and its content type, for a request whose Accept header had this value (None: none)."""
        if accepts_json(accept):
            return json.dumps({"__type": self.code, "message": self.message}, separators=(",", ":")).encode(), JSON
        return f"{self.code}: {self.message}".encode(), TEXT

    def response_headers(self) -> dict[str, str]:
        return {**self.headers, "X-Amzn-ErrorType": self.code}


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def accepts_json(accept: bytes | None) -> bool:
    """True if an Accept header value names application/json with a q above zero (`*/*` does not count)."""
    if not accept:
        return False
    for media_range in accept.lower().split(b","):
        media_type, *params = media_range.split(b";")
        if media_type.strip() != b"application/json":
            continue
        q = next((p.split(b"=", 1)[1].strip() for p in params if p.strip().startswith(b"q=")), b"1")
        try:
            if float(q) > 0:
                return True
        except ValueError:
            return True  # a malformed q does not take away what the client named
    return False


def accept_of(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The Accept value of ASGI headers (lower-case names); repeated headers are joined, as HTTP allows."""
    values = [value for name, value in headers if name == b"accept"]
    return b",".join(values) if values else None
