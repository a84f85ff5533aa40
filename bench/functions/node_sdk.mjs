// Reads one parameter and one secret per invoke with the AWS SDK for JavaScript v3, no cache: two AWS calls a time
// (or, with AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_SECRETS_MANAGER set to pscache, two calls to pscache's cache).
// The SDK is installed by the benchmark into $BENCH_NODE_MODULES (bench/node_sdk.py), not into this folder.
import { createRequire } from "node:module";
import { answer, serve } from "./runtime.mjs";

const require = createRequire(`${process.env.BENCH_NODE_MODULES}/`);
const { SSMClient, GetParameterCommand } = require("@aws-sdk/client-ssm");
const { SecretsManagerClient, GetSecretValueCommand } = require("@aws-sdk/client-secrets-manager");

// Function init: the clients are made once per environment.
const ssm = new SSMClient({});
const secrets = new SecretsManagerClient({});

await serve(async () => {
  const parameter = await ssm.send(new GetParameterCommand({ Name: process.env.BENCH_PARAMETER }));
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.BENCH_SECRET }));
  return answer(parameter.Parameter.Value, secret.SecretString);
});
