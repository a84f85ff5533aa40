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
    def endpoint(service: str, parse, fetch, render_body, describe):
        """One GET endpoint: parse the query, answer from the cache or fetch, render and cache the bytes."""

        async def handle(request: Request) -> Response:
            try:
                req = parse(request.scope["query_string"])
                caching = settings.caching(service)
                if caching:
                    body = cache.get(req.cache_key)
                    if body is not None:
                        if log.enabled("debug"):
                            log.debug(f"cache hit: {describe(req)}")
                        return Response(body, media_type=JSON)
                body = render_body(await fetch(req))
                if caching:
                    cache.put(req.cache_key, body, settings.ttl_for(service))
                if log.enabled("debug"):
                    log.debug(f"fetched: {describe(req)}")
                return Response(body, media_type=JSON)
            except ApiError as err:
                return error_response(err)
            except Exception as exc:  # a bug of ours: still JSON, never a traceback to the client
                log.error(f"internal error while serving {request.url.path}: {type(exc).__name__}: {exc}")
                return error_response(ApiError(500, "InternalFailure", "pscache failed to serve this request"))

        return handle

    get_parameter = endpoint(
        "ssm", parse_parameter, upstream.get_parameter, render.parameter_body, lambda r: f"parameter {r.full_name!r}"
    )
    get_secret = endpoint(
        "secretsmanager", parse_secret, upstream.get_secret, render.secret_body, lambda r: f"secret {r.secret_id!r}"
    )

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
