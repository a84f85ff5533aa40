# The stack of deploy/template.yaml (AWS SAM) in Terraform: the pscache layer, the Python example function and its
# boto3 twin (pointed at pscache by the SDK's endpoint variables), a parameter, a secret, and a role allowing exactly
# the calls pscache makes.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}"
  parameters = "${local.arn_prefix}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${var.parameter_path}"
  layer_zip  = coalesce(var.layer_zip, "${path.module}/../../dist/pscache-layer-${var.architecture}.zip")
  layer_arn  = var.layer_arn != null ? var.layer_arn : aws_lambda_layer_version.pscache[0].arn
}

resource "aws_lambda_layer_version" "pscache" {
  count                    = var.layer_arn == null ? 1 : 0
  layer_name               = "pscache"
  description              = "pscache, an in-memory cache for SSM parameters and Secrets Manager secrets on localhost:2773"
  filename                 = local.layer_zip
  source_code_hash         = filebase64sha256(local.layer_zip)
  compatible_architectures = [var.architecture]
  license_info             = "Apache-2.0"
}

resource "aws_ssm_parameter" "greeting" {
  name        = "${var.parameter_path}/greeting"
  type        = "String"
  value       = "hello from Parameter Store, served by pscache"
  description = "Read by the pscache example function"
}

resource "aws_secretsmanager_secret" "api_key" {
  name_prefix = "pscache-example/api-key-"
  description = "Read by the pscache example function"
}

data "aws_secretsmanager_random_password" "api_key" {
  password_length     = 32
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret_version" "api_key" {
  secret_id     = aws_secretsmanager_secret.api_key.id
  secret_string = data.aws_secretsmanager_random_password.api_key.random_password
  lifecycle {
    ignore_changes = [secret_string] # generated once, not on every plan
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "pscache_read" {
  # /systemsmanager/parameters/get and /batch
  statement {
    sid       = "ReadParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = ["${local.parameters}/*"]
  }
  # /systemsmanager/parameters/path: authorised against the requested path, not the parameters returned
  statement {
    sid       = "ReadParametersByPath"
    actions   = ["ssm:GetParametersByPath"]
    resources = [local.parameters, "${local.parameters}/*"]
  }
  # /secretsmanager/get; BatchGetSecretValue also needs it on each secret it returns
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.api_key.arn]
  }
  # /secretsmanager/batch: the action takes no resource; each secret is checked through GetSecretValue
  statement {
    sid       = "BatchReadSecrets"
    actions   = ["secretsmanager:BatchGetSecretValue"]
    resources = ["*"]
  }
  # SecureString parameters and secrets under a customer managed key, only through those two services
  statement {
    sid       = "DecryptThroughSsmAndSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [coalesce(var.kms_key_arn, "${local.arn_prefix}:kms:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:key/*")]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${data.aws_region.current.name}.amazonaws.com", "secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "example" {
  name_prefix        = "pscache-example-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.example.name
  policy_arn = "${local.arn_prefix}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy" "pscache_read" {
  name   = "pscache-read"
  role   = aws_iam_role.example.id
  policy = data.aws_iam_policy_document.pscache_read.json
}

data "archive_file" "example" {
  type        = "zip"
  source_dir  = "${path.module}/../../examples/python"
  output_path = "${path.module}/build/example-python.zip"
}

resource "aws_lambda_function" "example" {
  function_name    = "pscache-example"
  description      = "Reads a parameter and a secret through pscache on localhost:2773"
  role             = aws_iam_role.example.arn
  runtime          = "python3.12"
  handler          = "function.handler"
  architectures    = [var.architecture]
  memory_size      = 256
  timeout          = 10
  filename         = data.archive_file.example.output_path
  source_code_hash = data.archive_file.example.output_base64sha256
  layers           = [local.layer_arn]
  environment {
    variables = {
      EXAMPLE_PARAMETER = aws_ssm_parameter.greeting.name
      EXAMPLE_SECRET    = aws_secretsmanager_secret.api_key.arn
      # The AWS extension's settings, with its defaults; pscache reads the same variables.
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = "2773"
      SSM_PARAMETER_STORE_TTL                = "300"
      SECRETS_MANAGER_TTL                    = "300"
    }
  }
}

# No code change: the same reads with boto3; two standard variables send its calls to pscache's wire front.
resource "aws_lambda_function" "sdk_example" {
  function_name    = "pscache-sdk-example"
  description      = "The same reads with boto3 and no pscache code; two endpoint variables send them to pscache"
  role             = aws_iam_role.example.arn
  runtime          = "python3.12"
  handler          = "sdk_function.boto3_handler"
  architectures    = [var.architecture]
  memory_size      = 256
  timeout          = 10
  filename         = data.archive_file.example.output_path
  source_code_hash = data.archive_file.example.output_base64sha256
  layers           = [local.layer_arn]
  environment {
    variables = {
      EXAMPLE_PARAMETER                = aws_ssm_parameter.greeting.name
      EXAMPLE_SECRET                   = aws_secretsmanager_secret.api_key.arn
      AWS_ENDPOINT_URL_SSM             = "http://localhost:2773"
      AWS_ENDPOINT_URL_SECRETS_MANAGER = "http://localhost:2773"
    }
  }
}
