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
    """pscache answered with an error: its HTTP status and its JSON body {"__type", "message"}."""

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
        status, body = err.code, err.read()
    try:
        doc = json.loads(body)
    except ValueError:  # the AWS extension answers errors in plain text
        doc = {"message": body.decode("utf-8", "replace")}
    raise PscacheError(status, doc.get("__type") or "ExtensionError", doc.get("message") or "")


def get_parameter(name: str, decrypt: bool = True) -> dict:
    """The GetParameter `Parameter` object: Name, Type, Value, Version, ..."""
    return get("/systemsmanager/parameters/get", name=name, withDecryption=str(decrypt).lower())["Parameter"]


def get_secret(secret_id: str) -> dict:
    """The GetSecretValue body: Name, SecretString or SecretBinary (base64), VersionId, ..."""
    return get("/secretsmanager/get", secretId=secret_id)
