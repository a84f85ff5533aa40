"""deploy/cdk: the CDK app compiled with its pinned TypeScript and synthesized by the real `cdk` CLI and aws-cdk-lib
(from npm, by deploy/cdk/package-lock.json), with no network; the template passes cfn-lint and its role allows
exactly the calls pscache makes, as deploy/template.yaml's does (tests/test_deploy.py)."""

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

from harness import ROOT
from test_deploy import PSCACHE_ACTIONS, as_list

APP = ROOT / "deploy" / "cdk"
pytestmark = pytest.mark.slow  # tsc and two `cdk synth` runs: ~15 s
LAYER_ARN = "arn:aws:lambda:eu-west-1:123456789012:layer:pscache:7"


def node_modules() -> Path:
    """deploy/cdk's packages, installed by `npm ci` once per lock file into a cache outside the checkout."""
    lock = (APP / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("PSCACHE_CACHE_DIR") or Path.home() / ".cache" / "pscache")
    folder = cache / f"cdk-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (folder / "node_modules" / ".bin" / "cdk").exists():
        assert shutil.which("npm"), "the CDK test needs npm: apt-get install npm"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(APP / name, folder / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True,
                       stdout=subprocess.DEVNULL, timeout=900)
    return folder / "node_modules"


def offline(argv: list[str]) -> list[str]:
    """argv in a network namespace of its own: only a loopback that is down, so nothing can reach the network."""
    return ["unshare", "--net", *argv] if os.getuid() == 0 else ["unshare", "--user", "--map-root-user", "--net", *argv]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A copy of the app where it sits in a checkout (it names ../../examples and ../../dist), compiled."""
    work = tmp_path_factory.mktemp("cdk")
    copy = work / "deploy" / "cdk"
    shutil.copytree(APP, copy, ignore=shutil.ignore_patterns("node_modules", "build", "cdk.out"))
    (copy / "node_modules").symlink_to(node_modules())
    (work / "examples").symlink_to(ROOT / "examples")
    (work / "dist").mkdir()
    with zipfile.ZipFile(work / "dist" / "pscache-layer-x86_64.zip", "w") as z:  # synth only hashes and stages it
        z.writestr("extensions/pscache", "#!/bin/sh\nexec \"${0%/*}/../pscache/pscache\" \"$@\"\n")
    done = subprocess.run(offline([str(copy / "node_modules/.bin/tsc"), "-p", str(copy)]), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return copy


def synth(app: Path, out: Path, *context: str) -> dict:
    env = dict(os.environ, CDK_DISABLE_VERSION_CHECK="true", CDK_DISABLE_CLI_TELEMETRY="true")
    argv = [str(app / "node_modules/.bin/cdk"), "synth", "--no-notices", "--quiet", "--output", str(out)]
    for pair in context:
        argv += ["--context", pair]
    done = subprocess.run(offline(argv), cwd=app, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((out / "PscacheExample.template.json").read_text())


@pytest.fixture(scope="module")
def templates(app, tmp_path_factory):
    """The stack synthesized with the layer from the zip, and with a published layer's ARN."""
    out = tmp_path_factory.mktemp("cdk-out")
    return {"zip": (synth(app, out / "zip"), out / "zip"),
            "arn": (synth(app, out / "arn", f"pscacheLayerArn={LAYER_ARN}"), out / "arn")}


def of_type(template: dict, kind: str) -> dict:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


@pytest.mark.parametrize("variant", ["zip", "arn"])
def test_cfn_lint_finds_nothing(templates, variant):
    _, out = templates[variant]
    # W3005 only: lambda.Function always adds a DependsOn on its role besides the GetAtt (redundant, harmless).
    config = ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=["W3005"])
    matches = lint_file(out / "PscacheExample.template.json", config=config)
    assert matches == [], "\n".join(str(m) for m in matches)


def test_role_allows_exactly_the_apis_pscache_calls_scoped_as_the_sam_template(templates):
    template, _ = templates["zip"]
    (role,) = of_type(template, "AWS::IAM::Role").values()
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    actions = [a for s in statements for a in as_list(s["Action"])]
    assert sorted(actions) == sorted(PSCACHE_ACTIONS) and all(s["Effect"] == "Allow" for s in statements)
    by_action = {a: s for s in statements for a in as_list(s["Action"])}
    assert {a for a, s in by_action.items() if "*" in as_list(s["Resource"])} == {"secretsmanager:BatchGetSecretValue"}
    resources = json.dumps([by_action[a]["Resource"] for a in ("ssm:GetParameter", "ssm:GetParametersByPath")])
    assert resources.count(":parameter/pscache-example/*") == 2 and ":parameter/pscache-example\"" in resources
    (secret,) = of_type(template, "AWS::SecretsManager::Secret")
    assert by_action["secretsmanager:GetSecretValue"]["Resource"] == {"Ref": secret}
    via = json.dumps(by_action["kms:Decrypt"]["Condition"]["StringEquals"]["kms:ViaService"])
    assert "ssm." in via and "secretsmanager." in via
    managed = json.dumps(role["Properties"]["ManagedPolicyArns"])
    assert "service-role/AWSLambdaBasicExecutionRole" in managed


@pytest.mark.parametrize("variant", ["zip", "arn"])
def test_both_functions_use_the_layer_and_read_the_stack_s_parameter_and_secret(templates, variant):
    template, out = templates[variant]
    layers = of_type(template, "AWS::Lambda::LayerVersion")
    expected = [{"Ref": next(iter(layers))}] if variant == "zip" else [LAYER_ARN]
    assert len(layers) == (1 if variant == "zip" else 0)
    functions = of_type(template, "AWS::Lambda::Function")
    assert sorted(f["Properties"]["Handler"] for f in functions.values()) == ["function.handler",
                                                                               "sdk_function.boto3_handler"]
    for function in functions.values():
        props = function["Properties"]
        assert props["Layers"] == expected and props["Architectures"] == ["x86_64"]
        variables = props["Environment"]["Variables"]
        assert set(variables) >= {"EXAMPLE_PARAMETER", "EXAMPLE_SECRET"}
    sdk = next(f["Properties"] for f in functions.values() if f["Properties"]["Handler"].startswith("sdk_"))
    assert sdk["Environment"]["Variables"]["AWS_ENDPOINT_URL_SSM"] == "http://localhost:2773"
    # The functions' code is examples/python, staged as an asset.
    staged = [p for p in out.glob("asset.*") if (p / "function.py").is_file() and (p / "sdk_function.py").is_file()]
    assert staged, "examples/python was not staged as the functions' code"
