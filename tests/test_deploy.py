"""deploy/template.yaml: a valid SAM template whose IAM role allows exactly the calls pscache makes."""

from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode_str

from harness import ROOT

TEMPLATE = ROOT / "deploy/template.yaml"
# Every AWS API pscache calls: get + batch + path for parameters, get + batch for secrets, KMS for decryption.
PSCACHE_ACTIONS = {
    "ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath",
    "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "kms:Decrypt",
}


@pytest.fixture(scope="module")
def template():
    doc, errors = decode_str(TEMPLATE.read_text())
    assert not errors, errors
    return doc


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(template):
    role = template["Resources"]["ExampleFunctionRole"]["Properties"]
    return [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def test_cfn_lint_finds_nothing():
    matches = lint_file(Path(TEMPLATE), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert matches == [], "\n".join(str(m) for m in matches)


def test_role_allows_exactly_the_apis_pscache_calls(template):
    found = [a for s in statements(template) for a in as_list(s["Action"])]
    assert sorted(found) == sorted(PSCACHE_ACTIONS)  # each once, no wildcard, nothing else
    assert all(s["Effect"] == "Allow" for s in statements(template))
    managed = template["Resources"]["ExampleFunctionRole"]["Properties"]["ManagedPolicyArns"]
    assert [m["Fn::Sub"] for m in managed] == ["arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]


def test_resources_are_scoped(template):
    by_action = {a: s for s in statements(template) for a in as_list(s["Action"])}
    # Only BatchGetSecretValue takes no resource; AWS checks GetSecretValue on every secret it returns.
    unscoped = {a for a, s in by_action.items() if "*" in as_list(s["Resource"])}
    assert unscoped == {"secretsmanager:BatchGetSecretValue"}
    assert by_action["secretsmanager:GetSecretValue"]["Resource"] == {"Ref": "ExampleSecret"}
    for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"):
        for resource in as_list(by_action[action]["Resource"]):
            assert resource["Fn::Sub"].endswith(("parameter${ParameterPath}", "parameter${ParameterPath}/*"))
    kms = by_action["kms:Decrypt"]
    via = [v["Fn::Sub"] for v in kms["Condition"]["StringEquals"]["kms:ViaService"]]
    assert via == ["ssm.${AWS::Region}.amazonaws.com", "secretsmanager.${AWS::Region}.amazonaws.com"]


def test_function_uses_the_layer_the_role_and_reads_the_template_s_parameter_and_secret(template):
    resources = template["Resources"]
    layer = resources["PscacheLayer"]["Properties"]
    assert layer["ContentUri"] == "../dist/pscache-layer-x86_64.zip"  # what scripts/build-layer writes
    function = resources["ExampleFunction"]["Properties"]
    assert function["Layers"] == [{"Ref": "PscacheLayer"}]
    assert function["Role"] == {"Fn::GetAtt": ["ExampleFunctionRole", "Arn"]}
    module, _, name = function["Handler"].partition(".")
    code = (TEMPLATE.parent / function["CodeUri"] / f"{module}.py").read_text()
    assert f"def {name}(" in code
    variables = function["Environment"]["Variables"]
    assert variables["EXAMPLE_PARAMETER"] == {"Ref": "ExampleParameter"}
    assert variables["EXAMPLE_SECRET"] == {"Ref": "ExampleSecret"}
    assert resources["ExampleParameter"]["Properties"]["Type"] == "String"
    assert resources["ExampleSecret"]["Type"] == "AWS::SecretsManager::Secret"
