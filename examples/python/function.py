#!/usr/bin/env python3
"""A Lambda function on a custom runtime (stdlib only) that reads through pscache.

It fetches a parameter while the function initialises (pscache already serves
during INIT) and a parameter and a secret on every invocation, and returns what
happened. Run it as the runtime of the Lambda emulator, or use the `get` helper
below in your own handler: it is all a client needs.
"""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

PORT = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")
# SnapStart has no AWS_SESSION_TOKEN; pscache then accepts the container token.
TOKEN = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN", "")


def get(path: str) -> dict:
    started = time.perf_counter()
    request = urllib.request.Request(f"http://localhost:{PORT}{path}", headers={"X-Aws-Parameters-Secrets-Token": TOKEN})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    return {"status": status, "body": json.loads(body), "ms": round((time.perf_counter() - started) * 1000, 2)}


def get_parameter(name: str, decrypt: bool = False) -> dict:
    query = urllib.parse.urlencode({"name": name, "withDecryption": str(decrypt).lower()})
    return get(f"/systemsmanager/parameters/get?{query}")


def get_secret(secret_id: str) -> dict:
    return get("/secretsmanager/get?" + urllib.parse.urlencode({"secretId": secret_id}))


def masked(value):
    return None if value is None else f"{value[:3]}... ({len(value)} chars)"


def shown(body: dict):
    """A parameter's value, masked when it is a SecureString: never print secrets."""
    parameter = body.get("Parameter") or {}
    value = parameter.get("Value")
    return masked(value) if parameter.get("Type") == "SecureString" else value


# Function init: runs before the first invocation, while Lambda is still in INIT.
INIT_READ = get_parameter(os.environ.get("DEMO_PARAMETER", "/demo/greeting"))


def handler(event: dict) -> dict:
    parameter = get_parameter(event.get("parameter", "/demo/greeting"), decrypt=True)
    secret = get_secret(event.get("secret", "demo/api-key"))
    return {
        "during_init": {"status": INIT_READ["status"], "value": INIT_READ["body"].get("Parameter", {}).get("Value")},
        "parameter": {"status": parameter["status"], "ms": parameter["ms"], "value": shown(parameter["body"]),
                      "error": parameter["body"].get("__type")},
        "secret": {"status": secret["status"], "ms": secret["ms"],
                   "value": masked(secret["body"].get("SecretString")), "error": secret["body"].get("__type")},
    }


def main() -> None:
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(api + "/next", timeout=None) as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read() or b"{}")
        result = json.dumps(handler(event or {})).encode()
        urllib.request.urlopen(urllib.request.Request(f"{api}/{request_id}/response", data=result, method="POST")).read()


if __name__ == "__main__":
    main()
