"""The Runtime API loop of a custom runtime (stdlib only), shared by the Python bench functions."""

import json
import os
import urllib.request


def serve(handler) -> None:
    """Fetch the next event, call handler(event), post what it returns; forever, like a Lambda runtime."""
    api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(api + "/next", timeout=None) as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read() or b"{}")
        try:
            kind, result = "response", handler(event or {})
        except Exception as e:  # reported to Lambda as a function error, as the managed runtime does
            kind, result = "error", {"errorMessage": str(e), "errorType": type(e).__name__}
        request = urllib.request.Request(f"{api}/{request_id}/{kind}", data=json.dumps(result).encode(), method="POST")
        urllib.request.urlopen(request).read()


def answer(parameter_value: str, secret_value: str) -> dict:
    """What every bench function returns: the parameter, and only a digest of the secret (never its value)."""
    import hashlib

    return {"parameter": parameter_value, "secret_sha256": hashlib.sha256(secret_value.encode()).hexdigest()}
