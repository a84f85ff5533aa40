// Makes the calls given on stdin with the AWS SDK for JavaScript v3, whose endpoint comes from the environment
// (AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL_SECRETS_MANAGER), and prints one JSON line per call: {"ok": true} or the
// SDK's error {"name", "message", "status"}. The input: [{"service": "ssm" | "secretsmanager", "operation", "input"}].
// The packages come from $SDK_NODE_MODULES.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(`${process.env.SDK_NODE_MODULES}/`);
const modules = {
  ssm: require("@aws-sdk/client-ssm"),
  secretsmanager: require("@aws-sdk/client-secrets-manager"),
};
const clients = {
  ssm: new modules.ssm.SSMClient({ maxAttempts: 1 }),
  secretsmanager: new modules.secretsmanager.SecretsManagerClient({ maxAttempts: 1 }),
};

for (const { service, operation, input } of JSON.parse(readFileSync(0, "utf8"))) {
  const Command = modules[service][`${operation}Command`];
  try {
    await clients[service].send(new Command(input));
    console.log(JSON.stringify({ ok: true }));
  } catch (error) {
    console.log(JSON.stringify({ name: error.name, message: error.message, status: error.$metadata?.httpStatusCode }));
  }
}
