"""Read SSM parameters and Secrets Manager secrets through pscache (or the AWS extension): stdlib only.

Copy this file next to your handler. Names are URL-encoded; the token is what AWS's documentation says to send,
the session token of the SDK credential chain's credentials (see token()).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request

PORT = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")


class PscacheError(Exception):
    """pscache answered with an error: its HTTP status, its code (the X-Amzn-ErrorType header) and its message."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(f"pscache answered {status} {error_type}: {message}")
        self.status, self.error_type, self.message = status, error_type, message


def token() -> str:
    """The session token of the credentials from the SDK's default chain, resolved at each read so that it stays
    fresh after a SnapStart restore (with boto3: `boto3.Session().get_credentials().get_frozen_credentials().token`).
    Without the SDK, the chain's first two sources: AWS_SESSION_TOKEN, else (SnapStart sets none) the container
    credentials endpoint, asked as botocore's ContainerProvider asks it (one local request; the SDK would cache the
    answer until shortly before its Expiration)."""
    if os.environ.get("AWS_SESSION_TOKEN"):
        return os.environ["AWS_SESSION_TOKEN"]
    uri = os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if not uri and os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        uri = "http://169.254.170.2" + os.environ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]  # ECS
    if not uri:
        return ""
    authorization = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    request = urllib.request.Request(uri, headers={"Authorization": authorization} if authorization else {})
    with urllib.request.urlopen(request, timeout=2) as response:
        return json.load(response).get("Token") or ""


def get(path: str, **query: str) -> dict:
    url = f"http://localhost:{PORT}{path}?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(url, headers={"X-Aws-Parameters-Secrets-Token": token()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        code, text = err.headers.get("X-Amzn-ErrorType"), err.read().decode("utf-8", "replace")
        if code is None:  # the AWS extension: no code, a generic text
            raise PscacheError(err.code, "ExtensionError", text) from None
        # pscache's error body is plain text, "<code>: <message>".
        raise PscacheError(err.code, code, text.removeprefix(f"{code}: ")) from None


def get_parameter(name: str, decrypt: bool = True) -> dict:
    """The GetParameter `Parameter` object: Name, Type, Value, Version, ..."""
    return get("/systemsmanager/parameters/get", name=name, withDecryption=str(decrypt).lower())["Parameter"]


def get_secret(secret_id: str) -> dict:
    """The GetSecretValue body: Name, SecretString or SecretBinary (base64), VersionId, ..."""
    return get("/secretsmanager/get", secretId=secret_id)
