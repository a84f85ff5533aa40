"""The same function written against the AWS SDK: no pscache code at all, only its endpoint in the environment.

    AWS_ENDPOINT_URL_SSM=http://localhost:2773
    AWS_ENDPOINT_URL_SECRETS_MANAGER=http://localhost:2773

Then boto3 (and Powertools Parameters, and the AWS CLI, which build on botocore) send their calls to pscache,
which answers GetParameter(s), GetParametersByPath, GetSecretValue and BatchGetSecretValue from its cache and
passes every other call through to AWS. Three handlers, one behaviour (managed runtime python3.11+, or the
`bootstrap` in this folder with _HANDLER=sdk_function.<handler>):

- `boto3_handler`: boto3 clients made once per environment.
- `powertools_handler`: Powertools Parameters (`get_parameters_by_name`, `get_secret`, `set_parameter`); its own
  in-process cache is bypassed (`max_age=0`, `force_fetch`) so every read reaches pscache's shared one.
- `cli_handler`: the AWS CLI (`aws ssm get-parameter ...`), a process per call.

The event: {"parameter": name, "secret": id} (else EXAMPLE_PARAMETER / EXAMPLE_SECRET) reads both;
{"write": {"name": n, "value": v}} overwrites a String parameter; {"foreign": true} signs with a key pscache
does not hold (it is refused). Errors propagate: Lambda reports the SDK's own exception (ParameterNotFound,
ThrottlingException, ...).
"""

import json
import os
import shutil
import subprocess
import sys

FOREIGN = {"aws_access_key_id": "AKIAFOREIGNEXAMPLE", "aws_secret_access_key": "not-the-role's-secret",
           "aws_session_token": "not-the-role's-token"}


def masked(value):
    """Never return or log a secret: its first three characters and its length are enough to check it."""
    return None if value is None else f"{value[:3]}... ({len(value)} chars)"


def _wanted(event):
    event = event if isinstance(event, dict) else {}
    name = event.get("parameter") or os.environ.get("EXAMPLE_PARAMETER", "/pscache-example/greeting")
    secret_id = event.get("secret") or os.environ.get("EXAMPLE_SECRET", "pscache-example/api-key")
    return event, name, secret_id


def _answer(name, value, secret_id, secret):
    return {"parameter": {"name": name, "value": value}, "secret": {"name": secret_id, "value": masked(secret)}}


# -- boto3 --------------------------------------------------------------------------------------------------
_clients = {}


def _boto3(service, foreign=False):
    import boto3

    key = (service, foreign)
    if key not in _clients:
        _clients[key] = boto3.client(service, **(FOREIGN if foreign else {}))
    return _clients[key]


def boto3_handler(event, context=None):
    event, name, secret_id = _wanted(event)
    ssm = _boto3("ssm", bool(event.get("foreign")))
    if "write" in event:
        written = event["write"]
        return {"version": ssm.put_parameter(Name=written["name"], Value=written["value"], Type="String",
                                             Overwrite=True)["Version"]}
    value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    secret = _boto3("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return _answer(name, value, secret_id, secret)


# -- Powertools Parameters ----------------------------------------------------------------------------------

def powertools_handler(event, context=None):
    from aws_lambda_powertools.utilities import parameters

    event, name, secret_id = _wanted(event)
    if "write" in event:
        written = event["write"]
        return {"version": parameters.set_parameter(written["name"], written["value"], overwrite=True)}
    if event.get("foreign"):
        provider = parameters.SSMProvider(boto3_client=_boto3("ssm", foreign=True))
        return {"value": provider.get(name, force_fetch=True)}
    if event.get("single"):  # GetParameter (a missing name raises here)
        return {"value": parameters.get_parameter(name, force_fetch=True)}
    value = parameters.get_parameters_by_name({name: {}}, max_age=0)[name]  # GetParameters
    secret = parameters.get_secret(secret_id, force_fetch=True)
    return _answer(name, value, secret_id, secret)


# -- the AWS CLI --------------------------------------------------------------------------------------------

class CliError(Exception):
    """The CLI's exit status and message (`An error occurred (ParameterNotFound) when calling ...`)."""


def _aws(*args, foreign=False):
    # Next to the interpreter when installed with pip into the same environment, else on PATH.
    here = os.path.join(os.path.dirname(sys.executable), "aws")
    command = here if os.path.exists(here) else shutil.which("aws") or "aws"
    env = dict(os.environ)
    if foreign:
        env.update({k.upper(): v for k, v in FOREIGN.items()})
    done = subprocess.run([command, *args, "--output", "json"], capture_output=True, text=True, env=env, timeout=60)
    if done.returncode != 0:
        raise CliError(done.stderr.strip())
    return json.loads(done.stdout or "null")


def cli_handler(event, context=None):
    event, name, secret_id = _wanted(event)
    if "write" in event:
        written = event["write"]
        return {"version": _aws("ssm", "put-parameter", "--name", written["name"], "--value", written["value"],
                                "--type", "String", "--overwrite")["Version"]}
    value = _aws("ssm", "get-parameter", "--name", name, "--with-decryption",
                 foreign=bool(event.get("foreign")))["Parameter"]["Value"]
    secret = _aws("secretsmanager", "get-secret-value", "--secret-id", secret_id)["SecretString"]
    return _answer(name, value, secret_id, secret)
