"""Clients that decode any answer into the success shape, without looking at the status.

Some clients written for the AWS extension do that: its error bodies are plain text, so they get a decode error.
A JSON error body would decode into an empty success instead: a nil Parameter (a panic), or a missing secret read as
an empty string with no error. pscache's errors are plain text unless the client asks for JSON, so such a client
gets an error. The client here is in Go, with structs shaped like the AWS SDK for Go v2's outputs.
"""

import json
import subprocess

import pytest
from harness import TOKEN

from locallambda.extensions import ROOT
from locallambda.runtimes import go_build


@pytest.fixture(scope="module")
def typed_go(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("typed-go")
    return go_build(ROOT / "tests/clients/typed-go", ".", scratch / "typed-go", scratch)


def reads(binary, ext, accept: str, kind: str, *names: str) -> list[dict]:
    out = subprocess.run([str(binary), str(ext.port), TOKEN, accept, kind, *names], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.slow  # a cold `go build`
def test_a_client_that_ignores_the_status_gets_an_error_never_an_empty_value(typed_go, shared_ext):
    found, missing = reads(typed_go, shared_ext, "", "parameter", "/pscache/string", "/pscache/careless/missing")
    assert found == {"value": "value-v2"}
    assert missing["value"] is None and "invalid character" in missing["error"], missing
    (secret,) = reads(typed_go, shared_ext, "", "secret", "pscache/careless/missing")
    assert secret["value"] is None and "invalid character" in secret["error"], secret


@pytest.mark.slow
def test_the_same_client_asking_for_json_errors_would_be_fooled(typed_go, shared_ext):
    """Why text is the default: the JSON form decodes into an empty success, which this client cannot tell."""
    (param,) = reads(typed_go, shared_ext, "application/json", "parameter", "/pscache/careless/missing")
    assert param["value"] is None and param["error"].startswith("panic: "), param
    (secret,) = reads(typed_go, shared_ext, "application/json", "secret", "pscache/careless/missing")
    assert secret == {"value": ""}
