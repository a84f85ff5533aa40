"""First-call work done ahead of the first read, without fetching anything.

A Python client's first call costs several times its later ones: botocore builds its serializer, parser and
signer, resolves the endpoint rule set for the operation, caches the aliases of each event name, and the aiohttp
session builds its connector and TLS context; the first request through uvicorn, Starlette and the loader pays for
its code's first run too. At 128 MB after INIT that is ~14 ms of wall time per ms of CPU, while INIT itself is
boosted (docs/benchmarks.md). So once the clients exist, each makes its read call once with the HTTP send answered
in-process by a canned answer of the same shape as AWS's (botocore's `before-send` event, which is what its own
Stubber uses), and pscache sends itself one request that fetches nothing. No request leaves the machine, nothing
is cached, and no counter moves; each client may open its connection to the endpoint (TCP and TLS, nothing sent
on it), except in SnapStart's INIT, whose snapshot would keep a connection that is gone by its restore.
"""

from __future__ import annotations

import asyncio
import json
from contextvars import ContextVar

from app import log

PRIME_ID = "pscache-prime"
# Set only in the task that primes: a read the function makes meanwhile, on the same client, is sent as usual.
_priming: ContextVar[bool] = ContextVar("pscache_priming", default=False)
_ARN = "arn:aws:{service}:us-east-1:000000000000:{kind}"
# service -> (client method, its arguments, an answer of the shape AWS sends; values never used)
CALLS = {
    "ssm": ("get_parameter", {"Name": "/pscache/prime", "WithDecryption": True}, {"Parameter": {
        "Name": "/pscache/prime", "Type": "SecureString", "Value": "-", "Version": 1,
        "LastModifiedDate": 1.7e9, "ARN": _ARN.format(service="ssm", kind="parameter/pscache/prime"),
        "DataType": "text"}}),
    "secretsmanager": ("get_secret_value", {"SecretId": "pscache/prime"}, {
        "ARN": _ARN.format(service="secretsmanager", kind="secret:pscache/prime-AbCdEf"), "Name": "pscache/prime",
        "VersionId": "00000000-0000-0000-0000-000000000000", "SecretString": "-", "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1.7e9}),
}


class _Body:
    """What aiobotocore reads a response's body from (aiohttp's response, for a real send)."""

    def __init__(self, data: bytes):
        self._data = data

    async def read(self) -> bytes:
        return self._data


async def prime_client(client, service: str, connect: bool = False) -> None:
    """One read call through the whole of the client's pipeline, answered in-process at the HTTP send; then the
    HTTP session it would have sent through is opened (connector, TLS context) and, with connect, one connection
    to the endpoint (nothing sent on it)."""
    from aiobotocore.awsrequest import AioAWSResponse

    method, params, answer = CALLS[service]
    body = json.dumps(answer).encode()
    sent = []

    def canned(request, **_):
        if not _priming.get():
            return None  # another task's request: send it
        sent.append(request.url)
        return AioAWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.1",
                                                 "content-length": str(len(body))}, _Body(body))

    events = client.meta.events
    service_id = client.meta.service_model.service_id.hyphenize()
    operation = client.meta.method_to_api_mapping[method]
    event = f"before-send.{service_id}.{operation}"
    events.register_first(event, canned, unique_id=PRIME_ID)
    priming = _priming.set(True)
    try:
        await getattr(client, method)(**params)
    except Exception as exc:  # never fatal: the first read runs the same code and reports what is wrong
        log.debug(f"priming the {service} client failed: {type(exc).__name__}: {exc}")
        return
    finally:
        _priming.reset(priming)
        events.unregister(event, unique_id=PRIME_ID)
    session = client._endpoint.http_session
    try:
        connected = bool(sent) and hasattr(session, "open_for") and await session.open_for(sent[0], connect)
    except Exception as exc:  # a TLS context that cannot be made: the first read reports it
        log.debug(f"opening the {service} client's HTTP session ahead failed: {type(exc).__name__}: {exc}")
        return
    log.debug(f"{service}: first call made ahead (answered in-process, nothing sent)"
              + ("; connection open" if connected and connect else ""))


async def prime_front(port: int, token: str | None) -> None:
    """One request to pscache's own port through uvicorn, the token check and Starlette: the stats, which read
    nothing upstream. A failure only means the first read does this work."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        log.debug(f"priming the HTTP front failed: {exc}")
        return
    try:
        head = "GET /pscache/stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        if token:
            head += f"X-Aws-Parameters-Secrets-Token: {token}\r\n"
        writer.write((head + "\r\n").encode("latin-1"))
        await reader.read()  # until the server closes
    finally:
        writer.close()
