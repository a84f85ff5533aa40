"""A Lambda handler that reads a parameter and a secret through pscache.

Managed runtime: handler `function.handler` (python3.11+). Custom runtime: `bootstrap` in this folder.
The event may name what to read: {"parameter": "/app/flag", "secret": "app/api-key"}; otherwise the
EXAMPLE_PARAMETER and EXAMPLE_SECRET variables do. Errors from pscache propagate, so Lambda reports them
with errorType = pscache's error code, `X-Amzn-ErrorType` (ParameterNotFound, AccessDeniedException, ...).
"""

import os

from pscache_client import get_parameter, get_secret


def masked(value):
    """Never return or log a secret: its first three characters and its length are enough to check it."""
    return None if value is None else f"{value[:3]}... ({len(value)} chars)"


def handler(event, context=None):
    event = event if isinstance(event, dict) else {}
    name = event.get("parameter") or os.environ.get("EXAMPLE_PARAMETER", "/pscache-example/greeting")
    secret_id = event.get("secret") or os.environ.get("EXAMPLE_SECRET", "pscache-example/api-key")
    parameter = get_parameter(name)
    secret = get_secret(secret_id)
    value = parameter["Value"]
    return {
        "parameter": {"name": parameter["Name"], "version": parameter["Version"],
                      "value": masked(value) if parameter["Type"] == "SecureString" else value},
        "secret": {"name": secret["Name"], "value": masked(secret["SecretString"])},
    }
