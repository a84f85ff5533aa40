"""SnapStart, as AWS's documentation tells functions to use the extension there: the token is the session token
of the credentials from the SDK's chain (under SnapStart, the container credentials endpoint), read in the handler
so that it stays fresh after a restore. The function here gets it with botocore's own ContainerProvider, as
boto3's default chain does; the examples (tests/test_examples.py) do the same in Python, Node, Java and Go.
"""

import http.client
import json

import boto3
from botocore.credentials import ContainerProvider

from conftest import REGION
from harness import http_get
from locallambda.emulator import CREDENTIALS_PATH, SNAP_START

SECRET = "/secretsmanager/get?secretId=pscache%2Fsecret"


def chain_credentials(emu):
    """What the function's SDK chain resolves: the environment Lambda gives it under SnapStart."""
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{emu.runtime_api}{CREDENTIALS_PATH}",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": emu.container_token}
    return ContainerProvider(environ=env).load().get_frozen_credentials()


def read_with(port, token):
    return http_get(port, SECRET, token=token).status


def test_the_chains_session_token_is_accepted_before_and_after_a_restore(lam, proxy):
    emu, port = lam(mode=SNAP_START)
    assert emu.init().ok
    first = chain_credentials(emu)
    assert emu.invoke(lambda e, c: read_with(port, first.token)).response == 200

    emu.restore()  # new credentials behind the endpoint; pscache's process resumes holding the old ones
    second = chain_credentials(emu)
    assert second.token != first.token
    served = emu.credentials_served

    def reads(event, context):
        return [read_with(port, t) for t in (second.token, first.token, emu.container_token, second.token)]

    # The new token (pscache re-reads the chain once), the superseded one (valid until it expires), the static
    # container token; the second read of the new token needs no re-read.
    assert emu.invoke(reads).response == [200, 200, 200, 200]
    assert emu.credentials_served == served + 1
    assert proxy.count("GetSecretValue") == 1  # one fetch in all: the reads after the first were hits


def test_a_forged_token_is_refused_and_costs_at_most_one_re_read(lam):
    emu, port = lam(mode=SNAP_START)
    assert emu.init().ok
    token = chain_credentials(emu).token
    served = emu.credentials_served

    def reads(event, context):
        forged = [http_get(port, SECRET, token=t) for t in (token[:-1] + "x", "forged", "", token.upper())]
        return [(r.status, r.error_code) for r in forged], read_with(port, token)

    refusals, good = emu.invoke(reads).response
    assert refusals == [(403, "InvalidToken")] * 4 and good == 200
    assert emu.credentials_served <= served + 1  # the re-read is rate-limited: a flood reaches the endpoint once


def test_the_wire_front_accepts_the_restored_credentials_signature_and_token(lam):
    emu, port = lam(mode=SNAP_START)
    assert emu.init().ok
    emu.restore()
    creds = chain_credentials(emu)

    def reads(event, context):
        signed = boto3.client("secretsmanager", region_name=REGION, endpoint_url=f"http://localhost:{port}",
                              aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key,
                              aws_session_token=creds.token)
        by_signature = signed.get_secret_value(SecretId="pscache/secret")["Name"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/", body=json.dumps({"SecretId": "pscache/secret"}), headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue",
            "X-Aws-Parameters-Secrets-Token": creds.token})
        by_token = json.loads(conn.getresponse().read())["Name"]
        conn.close()
        return by_signature, by_token

    assert emu.invoke(reads).response == ("pscache/secret", "pscache/secret")
