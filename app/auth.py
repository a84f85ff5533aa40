"""Who may call: the token check, as an ASGI middleware in front of the routes.

Only a process inside the execution environment knows the token: AWS_SESSION_TOKEN, the static
AWS_CONTAINER_AUTHORIZATION_TOKEN, or the session token of the credentials the provider chain hands out (what
SnapStart functions send; app/held_credentials.py). Proxied requests are refused.
"""

from __future__ import annotations

from app.errors import ApiError, accept_of

TOKEN_HEADER = b"x-aws-parameters-secrets-token"
NO_TOKEN = ("no token to check against: AWS_SESSION_TOKEN and AWS_CONTAINER_AUTHORIZATION_TOKEN are unset, and the "
            "credential chain holds no session token")


def given_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The first token header's value, None without one; ApiError for a proxied request. ASGI header names are
    lower-case."""
    given = None
    for name, value in headers:
        if name == b"x-forwarded-for":
            raise ApiError(400, "ForwardedRequest", "requests carrying X-Forwarded-For are refused")
        if name == TOKEN_HEADER and given is None:
            given = value
    return given


async def check(headers: list[tuple[bytes, bytes]], tokens) -> None:
    """Raise ApiError unless the request carries a token that tokens (HeldCredentials) accepts."""
    given = given_token(headers)
    if given is None:
        raise ApiError(403, "InvalidToken", "missing X-Aws-Parameters-Secrets-Token header")
    if not await tokens.accepts_token(given):
        if not tokens.knows_a_token():
            raise ApiError(403, "InvalidToken", NO_TOKEN)
        raise ApiError(403, "InvalidToken", "invalid X-Aws-Parameters-Secrets-Token header")


class TokenGate:
    def __init__(self, app, tokens, open_paths: set[str] = frozenset()):
        self.app = app
        self.tokens = tokens  # HeldCredentials
        self.open_paths = open_paths  # answer without a token and without data (health checks)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            try:
                await check(scope["headers"], self.tokens)
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
