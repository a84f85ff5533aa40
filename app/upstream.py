"""Calls to SSM and Secrets Manager through aioboto3, and their error mapping.

One client per service, made once and then reused. main makes both right after
register (warm()), so the first miss pays only the round trip. aioboto3 itself
(~200 ms, ~18 MB with aiohttp and botocore) is imported by _preload() on a
thread, so it never stalls the event loop, with less work than a plain import
(app/lean_imports.py); both clients share one TLS context (app/http_session.py).
Region, credentials and endpoints come from botocore's standard configuration
(AWS_REGION, the credential chain incl. container credentials, AWS_ENDPOINT_URL
and AWS_ENDPOINT_URL_<SERVICE>), so the same code talks to AWS or a local stack.
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import AsyncExitStack

from app import __version__, log
from app.config import Settings
from app.errors import ApiError
from app.query import ParameterRequest, PathRequest, SecretRequest
from app.stats import Stats

NOT_FOUND = {"ParameterNotFound", "ParameterVersionNotFound", "ResourceNotFoundException"}
# What PSCACHE_NEGATIVE_TTL may cache: answers about the item itself (it does not exist, this role may not read it,
# its KMS key refuses), which the next call would repeat. Never the caller's own credentials being refused
# (expired, unknown, a bad signature: about pscache, and renewed at any moment), throttling, 5xx or timeouts.
ITEM_DENIALS = {"AccessDeniedException", "AccessDenied", "DecryptionFailure", "InvalidKeyId"}
DENIED = {
    "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException",
    "ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId", "MissingAuthenticationToken",
    "IncompleteSignature", "DecryptionFailure", "InvalidKeyId",
}
THROTTLED = {
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "ThrottledException", "RequestThrottled", "RequestThrottledException", "SlowDown",
}
# API name -> (service, botocore method)
APIS = {
    "GetParameter": ("ssm", "get_parameter"),
    "GetParameters": ("ssm", "get_parameters"),
    "GetParametersByPath": ("ssm", "get_parameters_by_path"),
    "GetSecretValue": ("secretsmanager", "get_secret_value"),
    "BatchGetSecretValue": ("secretsmanager", "batch_get_secret_value"),
}
# Beside botocore/data in the layer (build/trim_botocore.py): whole models of both services, whose own data keeps
# only the five reads; the wire front's pass-through makes a client from them on its first other operation.
WHOLE_MODELS = "data-whole-models"
# Answers that concern only the caller's request (a name that does not exist, one AWS calls invalid): the caller
# gets them in full, and may well expect them (an optional parameter), so they are logged at DEBUG. Denied access,
# throttling and upstream failures stay ERROR: the role, the key policy or the TTLs need the user's attention; so
# does any refusal of AssumeRole (the allowed role's trust policy or STS, not the caller's request).
CALLERS_BUSINESS = frozenset({400, 404})
GET_PARAMETERS_MAX = 10  # names per GetParameters call (API limit)
BATCH_SECRETS_MAX = 20  # ids per BatchGetSecretValue call (API limit)


def negative(code: str) -> bool:
    """Whether an error of a read may be cached as its answer (PSCACHE_NEGATIVE_TTL)."""
    return code in NOT_FOUND or code in ITEM_DENIALS or code.startswith("KMS")


def status_for(code: str, upstream_status: int) -> int:
    """The status that says what happened upstream (contract.md §12.2)."""
    if code in NOT_FOUND:
        return 404
    if code in DENIED or code.startswith("KMS"):
        return 403
    if code in THROTTLED:
        return 429
    if 400 <= upstream_status < 500:
        return 400
    return 502


class Upstream:
    def __init__(self, settings: Settings, stats: Stats | None = None):
        self._settings = settings
        self._stats = stats or Stats()
        self._session = None
        self._stack = AsyncExitStack()  # holds the clients open for the life of the process
        self._clients: dict[str, object] = {}
        self._lock = asyncio.Lock()
        self._session_name = None  # RoleSessionName, made on the first roleArn read
        self._role_sessions: dict[str, object] = {}  # role ARN -> the session both its clients share
        # botocore reads only AWS_DEFAULT_REGION; Lambda sets both, containers often only AWS_REGION.
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None

    def _preload(self) -> None:
        """Import the AWS SDK and make the session; run on a thread by _client, under its lock."""
        from app import lean_imports

        lean_imports.sdk_stack()
        with lean_imports.no_default_ca():
            import aioboto3

        self._session = aioboto3.Session(region_name=self.region)

    def _config(self, service: str):
        from aiobotocore.config import AioConfig

        from app.http_session import PlainHttpSession, SharedTlsSession

        # STS (roleArn reads) has no deadline of its own: the read that needs it is under the read's.
        timeout_ms = self._settings.timeout_ms_for(service) if service != "sts" else 0
        options = dict(
            max_pool_connections=self._settings.max_connections,
            # Default: Go SDK v2's retryer, standard mode with 3 attempts (PSCACHE_RETRY_MODE, PSCACHE_MAX_ATTEMPTS).
            retries={"mode": self._settings.retry_mode, "total_max_attempts": self._settings.max_attempts},
            user_agent_extra=f"pscache/{__version__}",
            http_session_cls=SharedTlsSession if self._settings.upstream_tls else PlainHttpSession,
        )
        if timeout_ms:
            # No single attempt may outlive the whole-call deadline either.
            options["connect_timeout"] = options["read_timeout"] = timeout_ms / 1000
        if service in self._settings.self_endpoints or (service == "sts" and self._sts_points_at_self()):
            # The variable names pscache itself (the function reads through the wire front): calling it would loop.
            options["ignore_configured_endpoint_urls"] = True
        return AioConfig(**options)

    def _sts_points_at_self(self) -> bool:
        """Whether STS's endpoint would be pscache's own port: AWS_ENDPOINT_URL set for the function's SDK and no
        AWS_ENDPOINT_URL_STS (pscache does not speak STS; config.self_endpoints covers the two services)."""
        from app.config import points_at_self

        generic = os.environ.get("AWS_ENDPOINT_URL") or ""
        return not os.environ.get("AWS_ENDPOINT_URL_STS") and points_at_self(generic, self._settings.port)

    async def _client(self, service: str, whole: str | None = None, role: str | None = None):
        """The service's client; `whole`: one made from the whole model in that folder (see WHOLE_MODELS);
        `role`: one that signs with that role's credentials (app/roles.py)."""
        key = f"{service} (whole model)" if whole else service
        if role is not None:
            key = f"{service} as {role}"
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._lock:
            if self._session is None:
                # On a thread: the import takes ~200 ms, which would stall every other request and the timeout
                # of this one.
                await asyncio.to_thread(self._preload)
            if key not in self._clients:
                session = self._session
                if whole:
                    import aioboto3

                    session = aioboto3.Session(region_name=self.region)
                    session._session.get_component("data_loader").search_paths.insert(0, whole)
                elif role is not None:
                    session = self._role_session(role)
                endpoint = self._settings.self_endpoints.get(service)
                client = await self._stack.enter_async_context(
                    session.client(service, config=self._config(service), endpoint_url=endpoint)
                )
                self._clients[key] = client
                self._stats.clients.append(key)
        return self._clients[key]

    async def _client_for(self, service: str, operation: str):
        """A client whose model has the operation: the reads' client, else (in the layer) the whole model's."""
        client = await asyncio.shield(self._client(service))
        if operation in client.meta.service_model.operation_names:
            return client
        import botocore

        whole = os.path.join(os.path.dirname(botocore.__file__), WHOLE_MODELS)
        return await asyncio.shield(self._client(service, whole)) if os.path.isdir(whole) else client

    async def warm(self, connect: bool = True) -> None:
        """Create both clients ahead of the first miss (model load, endpoint and credential resolution), run each
        one's first call without sending it, and (connect) open its connection (app/prime.py)."""
        from app.prime import prime_client

        for service in ("ssm", "secretsmanager"):
            await prime_client(await self._client(service), service, connect)

    def _role_session(self, role: str):
        """The session whose clients sign as role: its credentials are assumed on their first use and renewed."""
        if role in self._role_sessions:
            return self._role_sessions[role]
        import aioboto3
        from aiobotocore.session import AioSession

        from app import roles

        if self._session_name is None:
            self._session_name = roles.session_name(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
        botocore_session = AioSession()
        botocore_session.register_component("credential_provider",
                                            roles.CredentialSource(roles.RoleCredentials(role, self._assume)))
        session = self._role_sessions[role] = aioboto3.Session(region_name=self.region, botocore_session=botocore_session)
        return session

    async def _assume(self, role: str) -> tuple:
        """STS AssumeRole with pscache's own credentials: (frozen credentials, expiry in epoch seconds)."""
        from botocore.credentials import ReadOnlyCredentials

        from app import roles

        kwargs = {"RoleArn": role, "RoleSessionName": self._session_name}
        if self._settings.role_external_id:
            kwargs["ExternalId"] = self._settings.role_external_id

        async def attempt() -> dict:
            client = await asyncio.shield(self._client("sts"))
            return await client.assume_role(**kwargs)

        try:
            output = await self._measured("AssumeRole", f" of {role}", attempt, 0)
        except ApiError as err:
            raise roles.assume_failed(err, role) from None
        issued = output.get("Credentials") or {}
        if not all(issued.get(k) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")):
            raise _malformed("AssumeRole", role)
        frozen = ReadOnlyCredentials(issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
        return frozen, issued["Expiration"].timestamp()

    async def _call(self, api: str, subject: str, role: str | None = None, **kwargs) -> dict:
        service, method = APIS[api]

        async def attempt() -> dict:
            # Shielded: a client still being made at the deadline is finished for the next request.
            client = await asyncio.shield(self._client(service, role=role))
            return await getattr(client, method)(**kwargs)

        if role is not None:
            subject += f" as {role}"
        # The timeout covers the whole call: the first one also waits for the SDK import and the client.
        return await self._measured(api, f" for {subject}", attempt, self._settings.timeout_ms_for(service))

    async def call(self, service: str, operation: str, params: dict) -> dict:
        """Any operation of either service by its API name, with botocore's generic call (the wire front's
        pass-through). A ClientError propagates as AWS sent it; any other failure becomes an ApiError."""

        async def attempt() -> dict:
            client = await self._client_for(service, operation)
            return await client._make_api_call(operation, params)

        return await self._measured(operation, "", attempt, 0, client_errors=True)

    async def _measured(self, api: str, subject: str, attempt, timeout_ms: int, client_errors: bool = False) -> dict:
        """attempt() within timeout_ms (0: none), counted in the stats; every failure becomes an ApiError (never a
        traceback), except that client_errors lets AWS's own error answer (ClientError) through as it came."""
        started = time.monotonic()
        try:
            output = await (asyncio.wait_for(attempt(), timeout_ms / 1000) if timeout_ms else attempt())
        except ApiError:
            raise
        except Exception as exc:
            if client_errors:
                from botocore.exceptions import ClientError  # loaded with the SDK already

                if isinstance(exc, ClientError):
                    code = exc.response.get("Error", {}).get("Code") or "UnknownError"
                    self._stats.call(api, code, time.monotonic() - started)
                    raise
            failure = _classify(exc, api, timeout_ms, self._settings.ca_bundle)
            self._stats.call(api, failure.code, time.monotonic() - started)
            line = f"{api} request{subject} failed: {failure.code} ({failure.status}): {failure.message}"
            if failure.status in CALLERS_BUSINESS and api != "AssumeRole":  # pscache's own request: always ERROR
                if log.enabled("debug"):
                    log.debug(line)
            else:
                log.error(line)
            raise failure from None
        self._stats.call(api, "ok", time.monotonic() - started)
        return output

    async def input_shape(self, service: str, operation: str):
        """The input shape of one operation of the service's model (None: it takes none), False if the model
        has no such operation."""
        model = (await self._client_for(service, operation)).meta.service_model
        if operation not in model.operation_names:
            return False
        return model.operation_model(operation).input_shape

    async def credentials(self, fresh: bool = False):
        """(the credentials pscache calls AWS with, frozen: access_key, secret_key, token; their expiry in epoch
        seconds, None for static ones), or None. fresh: resolve the credential chain anew, for credentials the
        function's SDK refreshed before pscache's did."""
        await asyncio.shield(self._client("ssm"))  # the SDK and the session, made once
        if fresh:
            from aiobotocore.session import AioSession

            credentials = await AioSession().get_credentials()
        else:
            credentials = await self._session.get_credentials()
        if credentials is None:
            return None
        frozen = await credentials.get_frozen_credentials()  # refreshes them first if they are about to expire
        expiry = getattr(credentials, "_expiry_time", None)  # botocore's refreshable credentials keep it here
        return frozen, (expiry.timestamp() if expiry is not None else None)

    async def get_parameter(self, request: ParameterRequest) -> dict:
        output = await self._call("GetParameter", f"name={request.full_name!r}", request.role,
                                  Name=request.full_name, WithDecryption=request.with_decryption)
        parameter = output.get("Parameter")
        if not isinstance(parameter, dict):
            raise _malformed("GetParameter", f"name={request.full_name!r}")
        return parameter

    async def get_secret(self, request: SecretRequest) -> dict:
        kwargs = {"SecretId": request.secret_id}
        if request.version_id:
            kwargs["VersionId"] = request.version_id
        if request.version_stage:
            kwargs["VersionStage"] = request.version_stage
        output = await self._call("GetSecretValue", f"secretId={request.secret_id!r}", request.role, **kwargs)
        if not output.get("Name"):
            raise _malformed("GetSecretValue", f"secretId={request.secret_id!r}")
        return output

    async def get_parameters(self, names: list[str], with_decryption: bool,
                             role: str | None = None) -> tuple[list[dict], list[str]]:
        """GetParameters in calls of at most 10 names: (parameters, invalid names)."""
        found, invalid = [], []
        for i in range(0, len(names), GET_PARAMETERS_MAX):
            chunk = names[i:i + GET_PARAMETERS_MAX]
            output = await self._call("GetParameters", f"{len(chunk)} name(s) from {chunk[0]!r}", role,
                                      Names=chunk, WithDecryption=with_decryption)
            found += output.get("Parameters") or []
            invalid += output.get("InvalidParameters") or []
        return found, invalid

    async def get_parameters_by_path(self, request: PathRequest) -> list[dict]:
        """Every page of GetParametersByPath, merged."""
        found, token = [], None
        while True:
            kwargs = {"Path": request.path, "Recursive": request.recursive, "WithDecryption": request.with_decryption}
            if token:
                kwargs["NextToken"] = token
            output = await self._call("GetParametersByPath", f"path={request.path!r}", request.role, **kwargs)
            found += output.get("Parameters") or []
            token = output.get("NextToken")
            if not token:
                return found

    async def batch_get_secrets(self, secret_ids: list[str], role: str | None = None) -> tuple[list[dict], list[dict]]:
        """BatchGetSecretValue in calls of at most 20 ids, every page: (secret values, errors)."""
        values, errors = [], []
        for i in range(0, len(secret_ids), BATCH_SECRETS_MAX):
            chunk, token = secret_ids[i:i + BATCH_SECRETS_MAX], None
            while True:
                kwargs = {"SecretIdList": chunk}
                if token:
                    kwargs["NextToken"] = token
                output = await self._call("BatchGetSecretValue", f"{len(chunk)} id(s) from {chunk[0]!r}", role, **kwargs)
                values += output.get("SecretValues") or []
                errors += output.get("Errors") or []
                token = output.get("NextToken")
                if not token:
                    break
        return values, errors


def _malformed(operation: str, subject: str) -> ApiError:
    """The upstream answered 200 without the output's required fields (a broken proxy, a wrong endpoint)."""
    failure = ApiError(502, "InvalidUpstreamResponse", f"{operation} answered without the expected fields")
    log.error(f"{operation} request for {subject} failed: {failure.code} (502): {failure.message}")
    return failure


def _file_error(exc: BaseException) -> OSError | None:
    """The OSError naming a file somewhere behind an SDK error (a CA bundle, a credentials file), if any."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.filename:
            return e
        kwargs = getattr(e, "kwargs", None)  # botocore keeps the HTTP client's exception as kwargs["error"]
        inner = kwargs.get("error") if isinstance(kwargs, dict) else None
        todo += [x for x in (inner, e.__cause__, e.__context__) if isinstance(x, BaseException)]
    return None


def _classify(exc: BaseException, api: str, timeout_ms: int, ca_bundle: tuple | None = None) -> ApiError:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or "UnknownError"
        message = error.get("Message") or code
        upstream_status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        failure = ApiError(status_for(code, upstream_status), code, message)
        failure.negative = negative(code)
        return failure
    if isinstance(exc, asyncio.TimeoutError):
        return ApiError(504, "UpstreamTimeout", f"{api} did not complete within {timeout_ms} ms")
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return ApiError(504, "UpstreamTimeout", str(exc))
    if isinstance(exc, ParamValidationError):
        return ApiError(400, "ValidationException", str(exc).replace("\n", " "))
    if isinstance(exc, NoCredentialsError):
        return ApiError(502, "NoCredentials", "no AWS credentials were found by the SDK credential chain")
    if isinstance(exc, NoRegionError):
        return ApiError(502, "NoRegion", "no AWS region is configured: set AWS_REGION")
    if isinstance(exc, BotoCoreError):
        cause = _file_error(exc)
        if cause is not None:
            variable = f", set by {ca_bundle[0]}" if ca_bundle and ca_bundle[1] == cause.filename else ""
            return ApiError(502, "UpstreamUnavailable",
                            f"{api} could not be called: {cause.strerror}: {cause.filename}{variable}")
        return ApiError(502, "UpstreamUnavailable", str(exc))
    return ApiError(502, "InternalFailure", f"{type(exc).__name__} while calling {api}")
