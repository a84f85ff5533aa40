#!/usr/bin/env python3
"""Reads one parameter and one secret per invoke through pscache on localhost (stdlib only, one kept-alive
connection)."""

import http.client
import json
import os
import urllib.parse

from runtime_loop import answer, serve

PORT = int(os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773"))
HEADERS = {"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")}
connection = http.client.HTTPConnection("localhost", PORT, timeout=10)


def get(path: str) -> dict:
    global connection
    for attempt in (1, 2):  # the kept-alive connection may have been closed while the environment was frozen
        try:
            connection.request("GET", path, headers=HEADERS)
            response = connection.getresponse()
            body = response.read()
            break
        except (ConnectionError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("localhost", PORT, timeout=10)
            if attempt == 2:
                raise
    if response.status != 200:
        raise RuntimeError(f"pscache answered {response.status} for {path.split('?')[0]}")
    return json.loads(body)


def handler(event: dict) -> dict:
    name = urllib.parse.quote(os.environ["BENCH_PARAMETER"], safe="")
    secret_id = urllib.parse.quote(os.environ["BENCH_SECRET"], safe="")
    parameter = get(f"/systemsmanager/parameters/get?name={name}")["Parameter"]["Value"]
    secret = get(f"/secretsmanager/get?secretId={secret_id}")["SecretString"]
    return answer(parameter, secret)


if __name__ == "__main__":
    serve(handler)
