"""docs/openapi.yaml against the live server with schemathesis: no server error, and every response conforms
(status, content type, headers, body schema), for generated valid and invalid requests, with and without the token.

Operations the running build does not route yet (issue 4's superset answers 404 UnknownPath before it lands)
are left out of the run, so the test covers each endpoint from the day it exists. Bounded: PSCACHE_OPENAPI_EXAMPLES
(default 25) cases per operation and phase.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import ROOT, TOKEN, http_get

pytestmark = pytest.mark.slow

SPEC = ROOT / "docs" / "openapi.yaml"
EXAMPLES = os.environ.get("PSCACHE_OPENAPI_EXAMPLES", "25")
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance", "unsupported_method", "ignored_auth", "missing_required_header",
])


def operations() -> list[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text())
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


def routed(port: int, method: str, path: str) -> bool:
    r = http_get(port, path, method=method)
    return not (r.status == 404 and r.error_code == "UnknownPath")


def test_the_description_names_every_endpoint_of_the_brief():
    assert set(operations()) == {
        ("GET", "/systemsmanager/parameters/get"), ("GET", "/secretsmanager/get"),
        ("GET", "/systemsmanager/parameters/batch"), ("GET", "/systemsmanager/parameters/path"),
        ("GET", "/secretsmanager/batch"), ("POST", "/pscache/invalidate"), ("GET", "/pscache/stats"), ("GET", "/ping"),
    }


@pytest.fixture(scope="module")
def examples_exist(aws):
    """The spec's examples name these, so the examples phase gets 200s whose bodies are checked against the schemas."""
    for name, value in (("/demo/db/host", "db.internal"), ("/demo/db/port", "5432")):
        aws["ssm"].put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    for name in ("demo/db", "demo/api"):
        try:
            aws["sm"].create_secret(Name=name, SecretString=f"{name}-value")
        except aws["sm"].exceptions.ResourceExistsException:
            pass


def test_schemathesis_finds_no_server_error_and_no_nonconformance(shared_ext, examples_exist, tmp_path):
    live = [(m, p) for m, p in operations() if routed(shared_ext.port, m, p)]
    assert ("GET", "/systemsmanager/parameters/get") in live and ("GET", "/secretsmanager/get") in live
    excluded = [p for m, p in operations() if (m, p) not in live]
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"), "--no-color", "run", str(SPEC),
        "--url", f"http://127.0.0.1:{shared_ext.port}",
        "-H", f"X-Aws-Parameters-Secrets-Token: {TOKEN}",
        "--checks", CHECKS,
        "--max-examples", EXAMPLES,
        "--phases", "examples,coverage,fuzzing",
        "--generation-database", "none",
        "--request-timeout", "15",
        "--workers", "2",
        "--seed", os.environ.get("PSCACHE_OPENAPI_SEED", "6"),
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    for path in excluded:
        cmd += ["--exclude-path", path]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    cases = re.search(r"(\d+) generated", output)
    assert cases and int(cases.group(1)) > 50, output[-3000:]
    print(f"schemathesis: {cases.group(0)} over {len(live)} operations; not yet routed: {excluded}")
    assert shared_ext.proc.poll() is None
