output "function_name" {
  description = "Invoke it with `aws lambda invoke --function-name <this> out.json`"
  value       = aws_lambda_function.example.function_name
}

output "sdk_function_name" {
  description = "The boto3 version of the example, pointed at pscache by AWS_ENDPOINT_URL_SSM / _SECRETS_MANAGER"
  value       = aws_lambda_function.sdk_example.function_name
}

output "layer_version_arn" {
  description = "Attach this layer to your own functions"
  value       = local.layer_arn
}
