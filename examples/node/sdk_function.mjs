// The same function written against the AWS SDK for JavaScript v3: no pscache code at all, only its endpoint in
// the environment:
//   AWS_ENDPOINT_URL_SSM=http://localhost:2773  AWS_ENDPOINT_URL_SECRETS_MANAGER=http://localhost:2773
// Then the SDK (and Powertools Parameters, which uses it) sends its calls to pscache, which answers GetParameter(s),
// GetParametersByPath, GetSecretValue and BatchGetSecretValue from its cache and passes every other call to AWS.
// Managed runtime (nodejs18.x+, whose image includes the SDK): handler `sdk_function.handler` or
// `sdk_function.powertoolsHandler`. Custom runtime: `bootstrap` with _HANDLER set the same way. The packages come
// from node_modules next to this file, or from $SDK_NODE_MODULES (the tests install them there).
// The event: {"parameter", "secret"} (else EXAMPLE_PARAMETER / EXAMPLE_SECRET) reads both; {"write": {"name",
// "value"}} overwrites a String parameter; {"foreign": true} signs with a key pscache does not hold (refused).
// Errors propagate: Lambda reports the SDK's own exception (ParameterNotFound, ThrottlingException, ...).
import { createRequire } from "node:module";

const require = createRequire(process.env.SDK_NODE_MODULES ? `${process.env.SDK_NODE_MODULES}/` : import.meta.url);
const { SSMClient, GetParameterCommand, PutParameterCommand } = require("@aws-sdk/client-ssm");
const { SecretsManagerClient, GetSecretValueCommand } = require("@aws-sdk/client-secrets-manager");

const FOREIGN = { accessKeyId: "AKIAFOREIGNEXAMPLE", secretAccessKey: "not-the-role's-secret", sessionToken: "x" };

// Function init: the clients are made once per environment.
const ssm = new SSMClient({});
const secrets = new SecretsManagerClient({});
const foreignSsm = new SSMClient({ credentials: FOREIGN });

// Never return or log a secret: its first three characters and its length are enough to check it.
const masked = (value) => (value == null ? null : `${value.slice(0, 3)}... (${value.length} chars)`);

const wanted = (event) => ({
  name: event?.parameter || process.env.EXAMPLE_PARAMETER || "/pscache-example/greeting",
  secretId: event?.secret || process.env.EXAMPLE_SECRET || "pscache-example/api-key",
});

const answer = (name, value, secretId, secret) => ({
  parameter: { name, value },
  secret: { name: secretId, value: masked(secret) },
});

export async function handler(event) {
  const { name, secretId } = wanted(event);
  if (event?.write) {
    const { Version } = await ssm.send(new PutParameterCommand({
      Name: event.write.name, Value: event.write.value, Type: "String", Overwrite: true,
    }));
    return { version: Version };
  }
  const client = event?.foreign ? foreignSsm : ssm;
  const { Parameter } = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
  return answer(name, Parameter.Value, secretId, SecretString);
}

// Powertools for AWS Lambda (TypeScript), Parameters utility. Its own in-process cache is bypassed
// (forceFetch), so every read reaches pscache's shared one.
export async function powertoolsHandler(event) {
  const { getParameter, setParameter, SSMProvider } = require("@aws-lambda-powertools/parameters/ssm");
  const { getSecret } = require("@aws-lambda-powertools/parameters/secrets");
  const { name, secretId } = wanted(event);
  if (event?.write) {
    return { version: await setParameter(event.write.name, { value: event.write.value, overwrite: true }) };
  }
  if (event?.foreign) {
    return { value: await new SSMProvider({ awsSdkV3Client: foreignSsm }).get(name, { forceFetch: true }) };
  }
  const value = await getParameter(name, { forceFetch: true }); // GetParameter
  return answer(name, value, secretId, await getSecret(secretId, { forceFetch: true }));
}
