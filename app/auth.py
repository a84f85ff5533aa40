"""Who may call: the token check, as an ASGI middleware in front of the routes.

Only a process inside the execution environment knows AWS_SESSION_TOKEN, so a
matching header proves the caller is local. Proxied requests are refused.
"""

from __future__ import annotations

import hmac

from app.errors import ApiError, accept_of

TOKEN_HEADER = b"x-aws-parameters-secrets-token"


def check(headers: list[tuple[bytes, bytes]], token: bytes | None) -> None:
    """Raise ApiError unless the request carries the right token; ASGI header names are lower-case."""
    given = None
    for name, value in headers:
        if name == b"x-forwarded-for":
            raise ApiError(400, "ForwardedRequest", "requests carrying X-Forwarded-For are refused")
        if name == TOKEN_HEADER and given is None:
            given = value
    if token is None:
        raise ApiError(
            403, "InvalidToken", "no token to check against: AWS_SESSION_TOKEN and AWS_CONTAINER_AUTHORIZATION_TOKEN are unset"
        )
    if given is None:
        raise ApiError(403, "InvalidToken", "missing X-Aws-Parameters-Secrets-Token header")
    # Constant time, so response timing does not reveal how much of a guess matched.
    if not hmac.compare_digest(given, token):
        raise ApiError(403, "InvalidToken", "invalid X-Aws-Parameters-Secrets-Token header")


class TokenGate:
    def __init__(self, app, token: str | None, open_paths: set[str] = frozenset()):
        self.app = app
        self.token = token.encode() if token else None
        self.open_paths = open_paths  # answer without a token and without data (health checks)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            try:
                check(scope["headers"], self.token)
            except ApiError as err:
                await send_error(send, err, scope["headers"])
                return
        await self.app(scope, receive, send)


async def send_error(send, err: ApiError, request_headers: list[tuple[bytes, bytes]]) -> None:
    """Answer err at the ASGI level (before any route), in the form the request's Accept asks for."""
    body, content_type = err.render(accept_of(request_headers))
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.response_headers().items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
