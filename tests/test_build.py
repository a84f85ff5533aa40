"""The layer build's own pieces: botocore data trimming and the publish command."""

import gzip
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import botocore
import botocore.session
import pytest
from botocore.exceptions import ClientError

from harness import ROOT

sys.path.insert(0, str(ROOT / "build"))
import trim_botocore  # noqa: E402

pytestmark = pytest.mark.recipe  # left out of the binary tiers (tests/conftest.py)

DATA = Path(botocore.__file__).parent / "data"


@pytest.fixture(scope="module")
def trimmed(tmp_path_factory):
    """The botocore data the layer ships, trimmed as build_layer.py trims it."""
    out = tmp_path_factory.mktemp("botocore") / "data"  # trim() writes data-whole-models beside it
    out.mkdir()
    for name in ("endpoints.json", "partitions.json", "_retry.json", "sdk-default-configuration.json"):
        shutil.copy(DATA / name, out / name)
    for service in ("ssm", "secretsmanager", "sts"):
        shutil.copytree(DATA / service, out / service)
    sizes = trim_botocore.trim(out)
    return out, sizes


def test_trim_keeps_only_what_pscache_calls(trimmed):
    out, sizes = trimmed
    endpoints = json.loads((out / "endpoints.json").read_text())
    services = {s for p in endpoints["partitions"] for s in p["services"]}
    assert services == {"ssm", "secretsmanager", "sts"}
    (ssm_model,) = (out / "ssm").glob("*/service-2.json.gz")
    model = json.loads(gzip.decompress(ssm_model.read_bytes()))
    assert list(model["operations"]) == ["GetParameter", "GetParameters", "GetParametersByPath"]
    assert {"ParameterNotFound", "ParameterVersionNotFound", "GetParameterRequest", "Parameter"} <= set(model["shapes"])
    assert all(after < before / 5 for before, after in sizes.values())


def test_trim_keeps_every_call_pscache_makes():
    from app.upstream import APIS

    kept = {(service, op) for service, ops in trim_botocore.OPERATIONS.items() for op in ops}
    assert kept == {(service, api) for api, (service, _) in APIS.items()}


def test_trimmed_data_still_serves_both_calls_and_their_errors(trimmed, moto, aws):
    out, _ = trimmed
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(out))
    kw = dict(region_name="us-east-1", endpoint_url=moto, aws_access_key_id="testing", aws_secret_access_key="testing")
    ssm = session.create_client("ssm", **kw)
    assert ssm.get_parameter(Name="/pscache/string:1")["Parameter"]["Value"] == "value-v1"
    assert ssm.get_parameter(Name="/pscache/secure", WithDecryption=True)["Parameter"]["Value"] == "secure-value"
    with pytest.raises(ClientError) as info:
        ssm.get_parameter(Name="/pscache/nope")
    assert info.value.response["Error"]["Code"] == "ParameterNotFound"
    sm = session.create_client("secretsmanager", **kw)
    assert sm.get_secret_value(SecretId="pscache/secret", VersionStage="AWSPREVIOUS")["VersionStages"] == ["AWSPREVIOUS"]
    assert [p["Name"] for p in ssm.get_parameters(Names=["/pscache/list"])["Parameters"]] == ["/pscache/list"]
    assert ssm.get_parameters_by_path(Path="/pscache/lru")["Parameters"]
    assert sm.batch_get_secret_value(SecretIdList=["pscache/secret"])["SecretValues"][0]["Name"] == "pscache/secret"
    assert not hasattr(ssm, "put_parameter")  # the rest of the API is gone, as intended


def test_the_whole_models_beside_the_trimmed_data_serve_the_wire_fronts_pass_through(trimmed, moto, aws):
    out, _ = trimmed
    whole = out.parent / trim_botocore.WHOLE_MODELS
    from app.upstream import WHOLE_MODELS

    assert WHOLE_MODELS == trim_botocore.WHOLE_MODELS  # where app/upstream.py looks for them
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths[:0] = [str(whole), str(out)]
    kw = dict(region_name="us-east-1", endpoint_url=moto, aws_access_key_id="testing", aws_secret_access_key="testing")
    ssm = session.create_client("ssm", **kw)
    assert len(ssm.meta.service_model.operation_names) > 100
    assert ssm.describe_parameters(MaxResults=1)["Parameters"]
    sm = session.create_client("secretsmanager", **kw)
    assert sm.describe_secret(SecretId="pscache/secret")["Name"] == "pscache/secret"
    model = json.loads(gzip.decompress(next((whole / "ssm").glob("*/service-2.json.gz")).read_bytes()))
    assert "documentation" not in model["operations"]["PutParameter"]


def test_trim_refuses_a_model_without_the_operation():
    with pytest.raises(ValueError):
        trim_botocore.trim_model({"operations": {}, "shapes": {}}, ["GetParameter"])


def _zip(path: Path, files: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, source in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, source.read_bytes())
    return path


def test_publish_dry_run_prints_the_exact_command(tmp_path):
    launcher = tmp_path / "launcher"
    launcher.write_text("#!/bin/sh\n")
    zip_path = _zip(tmp_path / "pscache-layer-arm64.zip", {"extensions/pscache": launcher})
    out = subprocess.run(
        [str(ROOT / "scripts/publish-layer"), "--zip", str(zip_path), "--region", "eu-west-1", "--dry-run", "--skip-gate"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    command = out.stdout.strip()
    assert command.startswith("aws lambda publish-layer-version --layer-name pscache-arm64 ")
    for part in ("--license-info Apache-2.0", f"--zip-file fileb://{zip_path}", "--compatible-architectures arm64",
                 "--compatible-runtimes provided.al2023 provided.al2", "--query LayerVersionArn --output text",
                 "--region eu-west-1"):
        assert part in command
    assert "\n" not in command


def test_publish_refuses_a_zip_that_needs_a_newer_glibc(tmp_path):
    # This host's own binaries need a glibc newer than Amazon Linux 2's 2.26.
    zip_path = _zip(tmp_path / "pscache-layer-x86_64.zip", {"extensions/pscache": Path(shutil.which("ls"))})
    out = subprocess.run([str(ROOT / "scripts/publish-layer"), "--zip", str(zip_path), "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "gate" in out.stderr


def test_the_hashed_ca_folder_holds_every_certificate_of_the_bundle_and_verifies(tmp_path, moto):
    import ssl
    import urllib.request

    import build_layer
    from locallambda.fault_proxy import FaultProxy
    from locallambda.tls import make_certificates, server_context

    certificates = make_certificates(tmp_path / "certs")
    bundle = tmp_path / "cacert.pem"  # botocore's bundle with the test CA appended
    bundle.write_text((Path(botocore.__file__).parent / "cacert.pem").read_text() + certificates["ca.pem"].read_text())
    expected = bundle.read_text().count("-----BEGIN CERTIFICATE-----")
    assert build_layer.hash_ca_bundle(bundle) == expected == len(list((tmp_path / "cacert.pem.d").iterdir()))
    tls = FaultProxy(int(moto.rsplit(":", 1)[1]), tls=server_context(certificates))
    try:
        context = ssl.create_default_context(capath=str(tmp_path / "cacert.pem.d"))
        assert context.cert_store_stats()["x509_ca"] == 0  # nothing parsed up front
        with urllib.request.urlopen(tls.url + "/moto-api/", context=context) as response:
            assert response.status == 200
    finally:
        tls.close()


def _packages_lib(base: Path, mtime: int) -> Path:
    """build_layer's pscache/lib step on a small site-packages under base, its files dated mtime: one package
    that raises, and the two sources the layer keeps (anyio's lazy importer)."""
    import build_layer

    sp, dist = base / "venv" / "site-packages", base / "dist"
    for rel, text in {"pkg/__init__.py": "", "pkg/fail.py": "def boom():\n    raise ValueError('boom')\n",
                      "anyio/__init__.py": "", "anyio/abc/__init__.py": ""}.items():
        (sp / rel).parent.mkdir(parents=True, exist_ok=True)
        (sp / rel).write_text(text)
        os.utime(sp / rel, (mtime, mtime))
    dist.mkdir()
    assert build_layer.add_packages_lib(Path(sys.executable), sp, dist, ["pkg", "anyio"], sp, []) == 2
    return dist / "lib"


def test_the_lib_bytecode_names_the_lambda_path_and_not_the_build_folder(tmp_path):
    # Two builds in different folders, whose sources were written at different times (pip installs them afresh
    # each build), give the same .pyc bytes, so the Docker and the native release builds can give one zip; and a
    # traceback from lib/ names the file where Lambda has it.
    a = _packages_lib(tmp_path / "one", mtime=1_700_000_000)
    b = _packages_lib(tmp_path / "elsewhere" / "two", mtime=1_800_000_000)
    files = sorted(p.relative_to(a) for p in a.rglob("*.pyc"))
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*.pyc"))
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        assert str(tmp_path).encode() not in (a / rel).read_bytes(), rel
    done = subprocess.run([sys.executable, "-c", "import pkg.fail; pkg.fail.boom()"], cwd=a, capture_output=True,
                          text=True, env={"PYTHONPATH": str(a), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    assert 'File "/opt/pscache/lib/pkg/fail.py", line 2, in boom' in done.stderr, done.stderr
