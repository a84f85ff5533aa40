"""Who may call the wire front: a SigV4 signature made with pscache's own credentials, or the token header.

Lambda gives the function and its extensions the same execution-role credentials, so a signature that verifies
with them proves the caller holds them, as the token proves it for the 2773 API. The expected signature is
computed by botocore's own signer over the headers the request says it signed. Failures are answered as AWS
answers them (400 with MissingAuthenticationTokenException, IncompleteSignatureException,
InvalidSignatureException or UnrecognizedClientException); no signature, token or secret is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timezone

from app.auth import TOKEN_HEADER
from app.wire_codec import WireError

ALGORITHM = "AWS4-HMAC-SHA256"
SKEW_S = 300  # AWS's clock-skew window for SigV4
AMZ_DATE = "%Y%m%dT%H%M%SZ"
# Headers whose signing proves what is asked and of whom (host: AWS requires it; the target: the operation).
MUST_SIGN = ("host", "x-amz-target")
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")
UNKNOWN_KEY = "The security token included in the request is invalid."


def _incomplete(message: str) -> WireError:
    return WireError(400, "IncompleteSignatureException", message)


def _invalid(message: str) -> WireError:
    return WireError(400, "InvalidSignatureException", message)


def parse_authorization(value: str) -> tuple[list[str], list[str], str]:
    """`AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`
    -> (scope parts, signed header names, signature)."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'")
    fields = {}
    for part in rest.split(","):
        key, _, field = part.strip().partition("=")
        fields[key] = field
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
    if missing:
        raise _incomplete(f"Authorization header requires '{missing[0]}' parameter.")
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise _incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term")
    return scope, fields["SignedHeaders"].split(";"), fields["Signature"]


class Verifier:
    def __init__(self, held, region: str | None, clock=time.time):
        self._held = held  # HeldCredentials: the tokens and credentials that prove a caller local
        self._region = region
        self._clock = clock

    async def check(self, scope: dict, body: bytes, service: str) -> None:
        """Return if the request may be served; raise WireError (AWS's answer) otherwise."""
        headers: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        token = headers.get(TOKEN_HEADER.decode())
        if token is not None:
            if await self._held.accepts_token(token[0].encode("latin-1")):
                return
            raise WireError(400, "UnrecognizedClientException", UNKNOWN_KEY)
        authorization = headers.get("authorization")
        if not authorization:
            raise WireError(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        (key_id, date, region, signed_service, _), signed, signature = parse_authorization(authorization[0])
        amz_date = (headers.get("x-amz-date") or [""])[0]
        self._check_scope(amz_date, date, region, signed_service, service)
        for name in MUST_SIGN:
            if name not in signed:
                raise _incomplete(f"'{name}' must be a 'SignedHeader' in the AWS Authorization.")
        unsent = [name for name in signed if name not in headers]
        if unsent:
            raise _invalid(BAD_SIGNATURE)
        declared = (headers.get("x-amz-content-sha256") or [None])[0]
        if declared is not None and declared != hashlib.sha256(body).hexdigest():
            raise _invalid("The provided 'x-amz-content-sha256' header does not match what was computed.")
        # Credentials the function's SDK refreshed first are found by a re-read; superseded ones are kept until
        # they expire (app/held_credentials.py).
        credentials = await self._held.signing(key_id, (headers.get("x-amz-security-token") or [None])[0])
        if credentials is None:
            raise WireError(400, "UnrecognizedClientException", UNKNOWN_KEY)
        expected = _signature(credentials, scope, headers, signed, body, amz_date, region, signed_service)
        if not hmac.compare_digest(expected.encode(), signature.encode("latin-1")):
            raise _invalid(BAD_SIGNATURE)

    def _check_scope(self, amz_date: str, date: str, region: str, signed_service: str, service: str) -> None:
        try:
            signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise _incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.") \
                from None
        if date != amz_date[:8]:
            raise _invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")
        now = self._clock()
        if abs(now - signed_at) > SKEW_S:
            shown = datetime.fromtimestamp(now, timezone.utc).strftime(AMZ_DATE)
            which = "expired" if signed_at < now else "not yet current"
            raise _invalid(f"Signature {which}: {amz_date} is outside the {SKEW_S // 60} min window around {shown}")
        if signed_service != service:
            raise _invalid(f"Credential should be scoped to correct service: '{service}'.")
        if region != self._region:
            raise _invalid("Credential should be scoped to a valid region.")


def _signature(credentials, scope: dict, headers: dict, signed: list[str], body: bytes, amz_date: str,
               region: str, service: str) -> str:
    """What botocore's SigV4 signer makes of this request with pscache's credentials."""
    from botocore.auth import SigV4Auth  # loaded with the SDK already (the credentials needed it)
    from botocore.awsrequest import AWSRequest

    query = scope.get("query_string") or b""
    path = scope.get("raw_path") or scope["path"].encode()
    url = f"http://{headers['host'][0]}{path.decode('latin-1')}" + (f"?{query.decode('latin-1')}" if query else "")
    request = AWSRequest(method=scope["method"], url=url, data=body)
    for name in signed:
        for value in headers[name]:
            request.headers[name] = value  # HTTPHeaders appends: a repeated header keeps every value
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(credentials, service, region)
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
