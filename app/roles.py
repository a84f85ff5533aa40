"""Reads made as another IAM role (`roleArn=`): which roles a read may name, and their credentials.

A role is assumed with STS AssumeRole only when a read first names it, so nothing here runs unless
PSCACHE_ALLOWED_ROLE_ARNS lists a role. Its credentials are kept until shortly before they expire: one
AssumeRole per role and session, whatever the traffic. A role not on the allow-list is refused before anything
is fetched: otherwise any code that reaches the port with the token could make pscache act as any role the
function's own role may assume.
"""

from __future__ import annotations

import asyncio
import time

from app import log
from app.errors import ApiError

# Assume again once fewer seconds than this are left: a role session lasts at least 900 s (an hour by default),
# and a request signed now must still be valid when AWS checks it.
REFRESH_MARGIN_S = 300
# Credentials whose renewal failed are still used while at least this much of them is left.
STILL_VALID_S = 60
RETRY_RENEWAL_S = 10  # meanwhile, a failed renewal is tried again at most this often
SESSION_NAME_MAX = 64  # STS's limit on RoleSessionName


def check(settings, role: str | None) -> None:
    """Raise 403 RoleNotAllowed unless role is None (pscache's own credentials) or on the allow-list."""
    if role is None or role in settings.allowed_role_arns:
        return
    if not settings.allowed_role_arns:
        why = "PSCACHE_ALLOWED_ROLE_ARNS allows no role (the default)"
    else:
        why = "it is not listed in PSCACHE_ALLOWED_ROLE_ARNS"
    raise ApiError(403, "RoleNotAllowed", f"roleArn={role!r} is refused: {why}")


def session_name(function_name: str | None) -> str:
    """RoleSessionName: pscache and the function (Lambda's names are letters, digits, - and _, all allowed), so
    CloudTrail in the role's account says which function's cache read what."""
    return f"pscache-{function_name or 'local'}"[:SESSION_NAME_MAX]


def assume_failed(err: ApiError, role: str) -> ApiError:
    """An AssumeRole failure as the reader's answer: the AWS code, a message that names the role and says the
    read never reached SSM or Secrets Manager, and a status for what went wrong:
    403 the role may not be assumed (trust policy, ExternalId, STS off in the region), 429 throttled,
    502/504 STS unreachable or slow, and 502 for any other refusal (pscache's own request, not the reader's)."""
    status = err.status
    if err.code == "RegionDisabledException":
        status = 403
    elif status == 400:
        status = 502
    return ApiError(status, err.code, f"AssumeRole of {role} failed: {err.message}")


class RoleCredentials:
    """Credentials for a role's clients: what botocore's signer asks of them (get_frozen_credentials), renewed
    through `assume` (async role -> (frozen credentials, expiry in epoch seconds)) when near their expiry."""

    method = "assume-role"

    def __init__(self, role: str, assume, clock=time.time):
        self.role = role
        self._assume = assume
        self._clock = clock
        self._frozen = None
        self._expires = 0.0
        self._retry_at = 0.0
        self._lock = asyncio.Lock()

    def _left(self) -> float:
        return self._expires - self._clock() if self._frozen is not None else 0.0

    def _due(self) -> bool:
        left = self._left()
        return left < STILL_VALID_S or (left < REFRESH_MARGIN_S and self._clock() >= self._retry_at)

    # botocore's endpoint resolver asks credentials for their account (for services with account-based endpoints;
    # SSM and Secrets Manager have none): it is the role's.
    def get_deferred_property(self, name: str):
        return lambda: self.role.split(":")[4] if name == "account_id" else None

    async def get_account_id(self) -> str:
        return self.role.split(":")[4]

    async def get_frozen_credentials(self):
        if not self._due():
            return self._frozen
        async with self._lock:  # one AssumeRole at a time per role; whoever waited takes its result
            if self._due():
                try:
                    self._frozen, self._expires = await self._assume(self.role)
                except ApiError:
                    if self._left() < STILL_VALID_S:
                        raise
                    self._retry_at = self._clock() + RETRY_RENEWAL_S
                    log.warn(f"could not renew the credentials of {self.role}: using the current ones, which "
                             f"expire in {self._left():.0f} s")
        return self._frozen


class CredentialSource:
    """The credential_provider component of a role's botocore session: always that role's credentials."""

    def __init__(self, credentials: RoleCredentials):
        self._credentials = credentials

    async def load_credentials(self) -> RoleCredentials:
        return self._credentials
