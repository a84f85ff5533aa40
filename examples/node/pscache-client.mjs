// Read SSM parameters and Secrets Manager secrets through pscache (or the AWS extension): Node.js 18+, no packages.
// Copy this file next to your handler. `localhost` may resolve to ::1 first (Node 17+): pscache listens there too.
const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? "2773";

// pscache answered with an error: its HTTP status, its code (the X-Amzn-ErrorType header) and its message.
export class PscacheError extends Error {
  constructor(status, errorType, message) {
    super(`pscache answered ${status} ${errorType}: ${message}`);
    Object.assign(this, { name: "PscacheError", status, errorType, detail: message });
  }
}

// The token AWS's documentation says to send: the session token of the credentials from the SDK's default chain,
// resolved at each read so that it stays fresh after a SnapStart restore (with the SDK:
// `(await fromNodeProviderChain()()).sessionToken`). Without the SDK, the chain's first two sources:
// AWS_SESSION_TOKEN, else (SnapStart sets none) the container credentials endpoint, asked as the SDK's fromHttp
// provider asks it (one local request; the SDK would cache the answer until shortly before its Expiration).
async function token() {
  if (process.env.AWS_SESSION_TOKEN) return process.env.AWS_SESSION_TOKEN;
  const relative = process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  const uri = process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI || (relative && `http://169.254.170.2${relative}`);
  if (!uri) return "";
  const authorization = process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
  const response = await fetch(uri, {
    headers: authorization ? { Authorization: authorization } : {},
    signal: AbortSignal.timeout(2_000),
  });
  if (!response.ok) throw new Error(`the container credentials endpoint answered ${response.status}`);
  return (await response.json()).Token ?? "";
}

export async function get(path, query) {
  const response = await fetch(`http://localhost:${port}${path}?${new URLSearchParams(query)}`, {
    headers: { "X-Aws-Parameters-Secrets-Token": await token() },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.ok) return JSON.parse(text);
  // pscache's error body is plain text, "<code>: <message>"; the AWS extension's has no code header.
  const code = response.headers.get("x-amzn-errortype");
  if (!code) throw new PscacheError(response.status, "ExtensionError", text);
  const message = text.startsWith(`${code}: `) ? text.slice(code.length + 2) : text;
  throw new PscacheError(response.status, code, message);
}

// The GetParameter `Parameter` object: Name, Type, Value, Version, ...
export const getParameter = async (name, decrypt = true) =>
  (await get("/systemsmanager/parameters/get", { name, withDecryption: String(decrypt) })).Parameter;

// The GetSecretValue body: Name, SecretString or SecretBinary (base64), VersionId, ...
export const getSecret = (secretId) => get("/secretsmanager/get", { secretId });
