"""The ASGI app in-process: what a client sees when pscache itself fails, and how errors choose their form."""

import asyncio

import pytest

from app import config
from app.cache import Cache
from app.errors import accepts_json
from app.held_credentials import HeldCredentials
from app.loader import Loader
from app.reads import Reads
from app.server import create_app
from app.stats import Stats


class BrokenUpstream:
    async def get_parameter(self, request):
        raise RuntimeError("boom: bug in pscache")

    async def get_secret(self, request):
        return {"CreatedDate": object()}  # something render cannot serialise


def call(app, path, query=b"", token=b"tok"):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [(b"x-aws-parameters-secrets-token", token)], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2773),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


def test_an_internal_failure_is_a_500_without_traceback(capsys):
    settings = config.load({"AWS_SESSION_TOKEN": "tok"}, argv0="pscache")
    upstream = BrokenUpstream()
    app = create_app(settings, Loader(settings, Cache(10), Reads(settings, upstream), Stats()),
                     HeldCredentials(upstream, settings.token))
    for path, query in (("/systemsmanager/parameters/get", b"name=x"), ("/secretsmanager/get", b"secretId=y")):
        status, headers, body = call(app, path, query)
        assert status == 500 and headers[b"content-type"] == b"text/plain; charset=utf-8"
        assert headers[b"x-amzn-errortype"] == b"InternalFailure"
        assert body == b"InternalFailure: pscache failed to serve this request"
        assert b"Traceback" not in body and b"boom" not in body
    assert capsys.readouterr().out.count(" ERROR internal error while serving") == 2


@pytest.mark.parametrize("accept,as_json", [
    (None, False), (b"", False), (b"*/*", False), (b"text/plain", False), (b"application/*", False),
    (b"application/json", True), (b"APPLICATION/JSON", True), (b"text/plain, application/json", True),
    (b"application/json;q=0", False), (b"application/json; q=0.0", False), (b"application/json;q=0.3", True),
    (b"application/json;q=oops", True), (b"application/jsonx", False), (b"application/json;charset=utf-8", True),
])
def test_accept_names_json(accept, as_json):
    assert accepts_json(accept) is as_json
