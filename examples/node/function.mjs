// A Lambda handler that reads a parameter and a secret through pscache.
// Managed runtime: handler `function.handler` (nodejs18.x or later). Custom runtime: `bootstrap` in this folder.
// The event may name what to read: {"parameter": "/app/flag", "secret": "app/api-key"}; otherwise the
// EXAMPLE_PARAMETER and EXAMPLE_SECRET variables do. Errors from pscache propagate (errorType = pscache's error code (X-Amzn-ErrorType)).
import { getParameter, getSecret } from "./pscache-client.mjs";

// Never return or log a secret: its first three characters and its length are enough to check it.
const masked = (value) => (value == null ? null : `${value.slice(0, 3)}... (${value.length} chars)`);

export async function handler(event) {
  const name = event?.parameter || process.env.EXAMPLE_PARAMETER || "/pscache-example/greeting";
  const secretId = event?.secret || process.env.EXAMPLE_SECRET || "pscache-example/api-key";
  const parameter = await getParameter(name);
  const secret = await getSecret(secretId);
  return {
    parameter: {
      name: parameter.Name,
      version: parameter.Version,
      value: parameter.Type === "SecureString" ? masked(parameter.Value) : parameter.Value,
    },
    secret: { name: secret.Name, value: masked(secret.SecretString) },
  };
}
