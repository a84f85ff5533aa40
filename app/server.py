"""The HTTP API: request -> auth -> cache -> upstream -> response bytes.

The AWS extension's two GET endpoints, plus pscache's batch and path reads,
invalidation, stats and a health check (docs/http-api.md and docs/openapi.yaml).
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import log, render
from app.auth import TokenGate
from app.errors import ApiError, accept_of
from app.loader import Loader, Result, cache_headers
from app.query import (
    json_key, parse_invalidate, parse_parameter, parse_parameters, parse_path, parse_secret, parse_secrets,
    refresh_now,
)

JSON = "application/json"


def create_app(settings, loader: Loader, tokens) -> TokenGate:
    """The 2773 API; tokens (HeldCredentials) says which token headers are accepted."""
    cache, reads = loader.cache, loader.reads

    def answer(results: list[Result], body: bytes) -> Response:
        return Response(body, media_type=JSON, headers=cache_headers(results, cache.clock()))

    def endpoint(handler):
        """Turn ApiError into its answer, and any other failure into a 500 with one ERROR line."""

        async def handle(request: Request) -> Response:
            try:
                return await handler(request.scope["query_string"])
            except ApiError as err:
                return error_response(request, err)
            except Exception as exc:  # a bug of ours: still an error answer, never a traceback to the client
                log.error(f"internal error while serving {request.url.path}: {type(exc).__name__}: {exc}")
                return error_response(request, ApiError(500, "InternalFailure", "pscache failed to serve this request"))

        return handle

    def allowed(request):
        """The request, if the role it names (roleArn=) may be used; 403 RoleNotAllowed otherwise."""
        if request.role is not None:
            from app import roles  # only for reads that name a role

            roles.check(settings, request.role)
        return request

    async def single(query: bytes, request, shape=None) -> Response:
        """One read; shape: what the answer's body is made of the cached item, instead of the whole item."""
        result = await loader.read(allowed(request).cache_key, refresh_now(query))
        if log.enabled("debug"):
            said = {"hit": "cache hit", "miss": "fetched"}.get(result.state, result.state)
            log.debug(f"{said}: {request.cache_key[0]} {request.cache_key[1]!r}")
        if shape is not None:
            return answer([result], shape(result.entry.item))
        body = result.body
        if loader.mirror is not None and request.role is None:
            loader.share(request.cache_key, result, body)
        return answer([result], body)

    async def get_parameter(query: bytes) -> Response:
        return await single(query, parse_parameter(query))

    async def get_secret(query: bytes) -> Response:
        request, key = parse_secret(query), json_key(query)
        if key is None:
            return await single(query, request)
        from app import json_pointer  # only for reads that ask for one member

        pointer = json_pointer.parse(key)  # a malformed key is refused before anything is fetched

        def shape(item: bytes) -> bytes:
            return render.secret_string_body(item, json_pointer.member(item, pointer, key))

        return await single(query, request, shape)

    async def get_path(query: bytes) -> Response:
        return await single(query, parse_path(query))

    async def get_parameters(query: bytes) -> Response:
        keys = [allowed(r).cache_key for r in parse_parameters(query)]
        outcome = await loader.read_many(keys, reads.parameters, refresh_now(query))
        body = render.parameters_body(outcome.items(keys), outcome.missing)
        return answer(list(outcome.results.values()), body)

    async def get_secrets(query: bytes) -> Response:
        keys = [allowed(r).cache_key for r in parse_secrets(query)]
        outcome = await loader.read_many(keys, reads.secrets, refresh_now(query))
        body = render.secrets_body(outcome.items(keys), outcome.missing)
        return answer(list(outcome.results.values()), body)

    async def invalidate(query: bytes) -> Response:
        target = parse_invalidate(query)
        dropped = cache.clear() if target is None else cache.invalidate(*target)
        log.info(f"invalidated {dropped} cache entr{'y' if dropped == 1 else 'ies'}")
        return Response(json.dumps({"Invalidated": dropped}), media_type=JSON)

    async def stats(query: bytes) -> Response:
        snapshot = loader.stats.snapshot(len(cache), cache.bytes)
        return Response(json.dumps(snapshot, separators=(",", ":")), media_type=JSON)

    async def ping(request: Request) -> Response:
        return Response(b"healthy", media_type="text/plain")

    routes = []
    # Both spellings of every path are routed explicitly: a redirect would break clients.
    for path, handler, method in [
        ("/systemsmanager/parameters/get", get_parameter, "GET"),
        ("/systemsmanager/parameters/batch", get_parameters, "GET"),
        ("/systemsmanager/parameters/path", get_path, "GET"),
        ("/secretsmanager/get", get_secret, "GET"),
        ("/secretsmanager/batch", get_secrets, "GET"),
        ("/pscache/invalidate", invalidate, "POST"),
        ("/pscache/stats", stats, "GET"),
    ]:
        for spelling in (path, path + "/"):
            routes.append(Route(spelling, endpoint(handler), methods=[method]))
    routes.append(Route("/ping", ping, methods=["GET"]))
    for route in routes:
        route.methods = {m for m in route.methods if m != "HEAD"}  # Starlette adds HEAD; the API has none
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.router.redirect_slashes = False
    return TokenGate(app, tokens, open_paths={"/ping"})


def error_response(request: Request, err: ApiError) -> Response:
    body, content_type = err.render(accept_of(request.scope["headers"]))
    return Response(body, status_code=err.status, media_type=content_type, headers=err.response_headers())


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "GET")
        err = ApiError(405, "MethodNotAllowed", f"method {request.method} is not allowed: use {allowed}",
                       {"Allow": allowed})
    elif exc.status_code == 404:
        err = ApiError(404, "UnknownPath", f"no such endpoint: {request.url.path}")
    else:
        err = ApiError(exc.status_code, "HttpError", str(exc.detail))
    return error_response(request, err)
