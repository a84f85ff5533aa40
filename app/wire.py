"""The wire front: SSM's and Secrets Manager's own JSON 1.1 protocol on `POST /` of pscache's port.

An AWS SDK pointed at pscache (AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_SECRETS_MANAGER) gets its five reads
from the loader, so they share cache entries, single flight, stale serving, refresh ahead and stats with the
2773 API; every other operation of the two services is passed through to AWS with botocore's generic call, and
a write first drops the cache entries of the name it writes. Everything else that reaches `POST /` gets the
error AWS gives for an unknown operation. Requests flow one way, as in the 2773 API:
wire_auth -> wire_limits (AWS's input limits) -> query (cache keys) -> loader -> wire_codec -> response bytes.
"""

from __future__ import annotations

import json

from app import log, render
from app.errors import ApiError
from app.loader import Loader, cache_headers
from app.query import PathRequest, SecretRequest, parameter_request, split_selector
from app.wire_auth import Verifier
from app.wire_codec import CONTENT_TYPE, WireError, error_body, from_api_error, from_cached, from_output, to_params
from app.wire_limits import validate

TARGETS = {"AmazonSSM": "ssm", "secretsmanager": "secretsmanager"}
MAX_BODY = 1 << 20  # the largest write (a 64 KiB SecretBinary, base64) fits many times over
# Writes to a name, and the input member that names it: its cache entries are dropped before and after the call.
WRITES = {
    "ssm": {
        "PutParameter": "Name", "DeleteParameter": "Name", "DeleteParameters": "Names",
        "LabelParameterVersion": "Name", "UnlabelParameterVersion": "Name",
    },
    "secretsmanager": {
        "PutSecretValue": "SecretId", "UpdateSecret": "SecretId", "UpdateSecretVersionStage": "SecretId",
        "DeleteSecret": "SecretId", "RestoreSecret": "SecretId", "RotateSecret": "SecretId",
        "CancelRotateSecret": "SecretId",
    },
}
# SSM serves secrets too, as /aws/reference/secretsmanager/<id>: a write to a secret drops those entries as well.
SECRET_REFERENCE = "/aws/reference/secretsmanager/"


def _unknown_operation() -> WireError:
    return WireError(400, "UnknownOperationException", "The action or operation requested is invalid. "
                     "Verify that the action is typed correctly.")


def _validation(message: str) -> WireError:
    return WireError(400, "ValidationException", message)


def _string(document: dict, key: str, required: bool = False) -> str | None:
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _validation(f"1 validation error detected: Value at '{key[0].lower() + key[1:]}' failed to satisfy "
                          "constraint: Member must be a non-empty string")
    return value


def _flag(document: dict, key: str) -> bool:
    value = document.get(key, False)
    if not isinstance(value, bool):
        raise WireError(400, "SerializationException", f"{key} must be a boolean")
    return value


class WireFront:
    """ASGI: `POST /` is the wire protocol; every other request goes on to the 2773 API (`api`)."""

    def __init__(self, loader: Loader, upstream, held, api):
        self.loader = loader
        self.upstream = upstream
        self.api = api
        self.verifier = Verifier(held, upstream.region)
        self._shapes: dict = {}  # operation -> its input shape in the service's model (app/wire_limits.py)
        self.reads = {
            ("ssm", "GetParameter"): self._get_parameter,
            ("ssm", "GetParameters"): self._get_parameters,
            ("ssm", "GetParametersByPath"): self._get_parameters_by_path,
            ("secretsmanager", "GetSecretValue"): self._get_secret_value,
            ("secretsmanager", "BatchGetSecretValue"): self._batch_get_secret_value,
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] != "POST":
            await self.api(scope, receive, send)
            return
        service = "ssm"
        try:
            service, operation = self._target(scope["headers"])
            body = await _read_body(scope, receive)
            await self.verifier.check(scope, body, service)
            document = _document(body)
            answer, headers = await self._serve(service, operation, document)
        except WireError as err:
            failure = err
        except ApiError as err:
            failure = from_api_error(err)
        except Exception as exc:  # a bug of ours: still the service's error shape, never a traceback
            log.error(f"internal error while serving the wire protocol: {type(exc).__name__}: {exc}")
            failure = WireError(500, "InternalFailure", "pscache failed to serve this request")
        else:
            await _send(send, 200, answer, headers)
            return
        await _send(send, failure.status, error_body(failure, service), _error_headers(failure))

    @staticmethod
    def _target(headers) -> tuple[str, str]:
        """(service, operation) from X-Amz-Target, for JSON 1.1 requests to SSM or Secrets Manager only."""
        target = content_type = b""
        for name, value in headers:
            if name == b"x-amz-target":
                target = value
            elif name == b"content-type":
                content_type = value
            elif name == b"x-forwarded-for":
                raise WireError(400, "ForwardedRequest", "requests carrying X-Forwarded-For are refused")
        prefix, _, operation = target.decode("latin-1").partition(".")
        if prefix not in TARGETS or not operation.isalnum() or \
                content_type.split(b";")[0].strip().lower() != CONTENT_TYPE.encode():
            raise _unknown_operation()  # never passed on: the caller chose this endpoint for these two services
        return TARGETS[prefix], operation

    async def _serve(self, service: str, operation: str, document: dict) -> tuple[bytes, dict]:
        read = self.reads.get((service, operation))
        if read is not None:
            # AWS's limits, whether the read is then cached or passed through (with a page token, say).
            shape = self._shapes.get(operation)
            if shape is None:  # the model, once per operation: a hit then costs no await on the client
                shape = self._shapes[operation] = await self.upstream.input_shape(service, operation)
            validate(shape, document)
            served = await read(document)
            if served is not None:
                return served
        return await self._pass_through(service, operation, document)

    # -- cached reads: the cache keys of the 2773 API, through the same loader ----------------------------

    def _answer(self, results: list, body: bytes) -> tuple[bytes, dict]:
        return from_cached(body), cache_headers(results, self.loader.cache.clock())

    async def _get_parameter(self, document: dict):
        request = parameter_request(_string(document, "Name", True), _flag(document, "WithDecryption"))
        result = await self.loader.read(request.cache_key)
        return self._answer([result], result.body)

    async def _get_parameters(self, document: dict):
        names = document.get("Names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise _validation("1 validation error detected: Value at 'names' failed to satisfy constraint: "
                              "Member must have length greater than or equal to 1")
        decrypt = _flag(document, "WithDecryption")
        keys = list(dict.fromkeys(parameter_request(name, decrypt).cache_key for name in names))
        outcome = await self.loader.read_many(keys, self.loader.reads.parameters)
        body = render.parameters_body(outcome.items(keys), outcome.missing)
        return self._answer(list(outcome.results.values()), body)

    async def _get_parameters_by_path(self, document: dict):
        if document.keys() - {"Path", "Recursive", "WithDecryption", "MaxResults"}:
            return None  # a page token or filters: the cache holds whole, unfiltered answers only
        path = _string(document, "Path", True)
        if not path.startswith("/"):
            return None  # SSM says what is wrong with it
        request = PathRequest(path, _flag(document, "Recursive"), _flag(document, "WithDecryption"))
        result = await self.loader.read(request.cache_key)
        return self._answer([result], result.body)

    async def _get_secret_value(self, document: dict):
        request = SecretRequest(_string(document, "SecretId", True), _string(document, "VersionId"),
                                _string(document, "VersionStage"))
        result = await self.loader.read(request.cache_key)
        return self._answer([result], result.body)

    async def _batch_get_secret_value(self, document: dict):
        ids = document.get("SecretIdList")
        if document.keys() - {"SecretIdList", "MaxResults"} or not isinstance(ids, list) or not ids \
                or not all(isinstance(i, str) and i for i in ids):
            return None  # filters or a page token: passed through, uncached
        keys = [SecretRequest(secret_id, None, None).cache_key for secret_id in dict.fromkeys(ids)]
        outcome = await self.loader.read_many(keys, self.loader.reads.secrets)
        body = render.secrets_body(outcome.items(keys), outcome.missing)
        return self._answer(list(outcome.results.values()), body)

    # -- everything else: passed through to AWS ---------------------------------------------------------

    async def _pass_through(self, service: str, operation: str, document: dict) -> tuple[bytes, dict]:
        shape = await self.upstream.input_shape(service, operation)
        if shape is False:
            raise _unknown_operation()
        from botocore.exceptions import ClientError  # loaded with the SDK already

        params = to_params(shape, document)
        names = self._written(service, operation, document)
        self._invalidate(service, names)
        try:
            output = await self.upstream.call(service, operation, params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            raise WireError(meta.get("HTTPStatusCode") or 400, error.get("Code") or "UnknownError",
                            error.get("Message") or "", meta.get("RequestId")) from None
        finally:
            self._invalidate(service, names)  # a read that raced the write may have cached the old value
        headers = {"X-Pscache-Cache": "pass"}
        request_id = output.get("ResponseMetadata", {}).get("RequestId")
        if request_id:
            headers["x-amzn-RequestId"] = request_id
        return from_output(output), headers

    @staticmethod
    def _written(service: str, operation: str, document: dict) -> list[str]:
        member = WRITES[service].get(operation)
        value = document.get(member) if member else None
        names = value if isinstance(value, list) else [value]
        return [name for name in names if isinstance(name, str) and name]

    def _invalidate(self, service: str, names: list[str]) -> None:
        cache = self.loader.cache
        for name in names:
            if service == "ssm":
                dropped = cache.invalidate("ssm", split_selector(name)[0])
            else:
                dropped = cache.invalidate("secretsmanager", name) + cache.invalidate("ssm", SECRET_REFERENCE + name)
            if dropped and log.enabled("debug"):
                log.debug(f"a write to {name!r} dropped {dropped} cache entr{'y' if dropped == 1 else 'ies'}")


async def _read_body(scope, receive) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY:
            raise WireError(413, "RequestEntityTooLarge", f"the request body exceeds {MAX_BODY} bytes")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise WireError(400, "IncompleteBody", "the client went away before its request body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise WireError(413, "RequestEntityTooLarge", f"the request body exceeds {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _document(body: bytes) -> dict:
    try:
        document = json.loads(body or b"{}")
    except (UnicodeDecodeError, ValueError):
        raise WireError(400, "SerializationException", "the request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise WireError(400, "SerializationException", "the request body must be a JSON object")
    return document


def _request_id() -> str:
    import uuid  # not at start-up: botocore loads it with the SDK anyway

    return str(uuid.uuid4())


def _error_headers(err: WireError) -> dict:
    return {**err.headers, "x-amzn-ErrorType": err.code, "x-amzn-RequestId": err.request_id or _request_id()}


async def _send(send, status: int, body: bytes, headers: dict) -> None:
    raw = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    if "x-amzn-RequestId" not in headers:
        raw.append((b"x-amzn-requestid", _request_id().encode()))
    raw += [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
