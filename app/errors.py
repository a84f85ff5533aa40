"""The one error shape pscache answers with: {"__type": code, "message": text}."""

from __future__ import annotations

import json


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        return json.dumps({"__type": self.code, "message": self.message}, separators=(",", ":")).encode()


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)
