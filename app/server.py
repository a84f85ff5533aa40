"""The HTTP API: request -> auth -> cache -> upstream -> response bytes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import log, render
from app.auth import TokenGate
from app.cache import Cache
from app.config import Settings
from app.errors import ApiError
from app.query import parse_parameter, parse_secret

JSON = "application/json"


def create_app(settings: Settings, cache: Cache, upstream) -> TokenGate:
    async def fetch(service: str, key: tuple, describe: str, load) -> Response:
        caching = settings.caching(service)
        if caching:
            body = cache.get(key)
            if body is not None:
                if log.enabled("debug"):
                    log.debug(f"cache hit: {describe}")
                return Response(body, media_type=JSON)
        body = await load()
        if caching:
            cache.put(key, body, settings.ttl_for(service))
        if log.enabled("debug"):
            log.debug(f"fetched: {describe}")
        return Response(body, media_type=JSON)

    async def get_parameter(request: Request) -> Response:
        try:
            req = parse_parameter(request.scope["query_string"])

            async def load() -> bytes:
                return render.parameter_body(await upstream.get_parameter(req))

            return await fetch("ssm", req.cache_key, f"parameter {req.full_name!r}", load)
        except ApiError as err:
            return error_response(err)

    async def get_secret(request: Request) -> Response:
        try:
            req = parse_secret(request.scope["query_string"])

            async def load() -> bytes:
                return render.secret_body(await upstream.get_secret(req))

            return await fetch("secretsmanager", req.cache_key, f"secret {req.secret_id!r}", load)
        except ApiError as err:
            return error_response(err)

    # Both spellings are routed explicitly: a redirect would break clients.
    routes = [
        Route("/systemsmanager/parameters/get", get_parameter, methods=["GET"]),
        Route("/systemsmanager/parameters/get/", get_parameter, methods=["GET"]),
        Route("/secretsmanager/get", get_secret, methods=["GET"]),
        Route("/secretsmanager/get/", get_secret, methods=["GET"]),
    ]
    for route in routes:
        route.methods = {"GET"}  # Starlette adds HEAD; the contract is GET only
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False
    return TokenGate(app, settings.token)


def error_response(err: ApiError) -> Response:
    return Response(err.body(), status_code=err.status, media_type=JSON, headers=err.headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        err = ApiError(405, "MethodNotAllowed", f"method {request.method} is not allowed: use GET", {"Allow": "GET"})
    elif exc.status_code == 404:
        err = ApiError(404, "UnknownPath", f"no such endpoint: {request.url.path}")
    else:
        err = ApiError(exc.status_code, "HttpError", str(exc.detail))
    return error_response(err)
