"""Read SSM parameters and Secrets Manager secrets through pscache (or the AWS extension): stdlib only.

Copy this file next to your handler. Names are URL-encoded; the token comes from AWS_SESSION_TOKEN, or under
SnapStart (which sets no session token) from AWS_CONTAINER_AUTHORIZATION_TOKEN.
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
    return os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN", "")


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
