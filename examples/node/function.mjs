// A Lambda function on a custom runtime (Node.js 18+, no packages) that reads through pscache.
// `localhost` may resolve to ::1 first in Node 17+: pscache listens there too.
const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? "2773";
const token = process.env.AWS_SESSION_TOKEN ?? process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN ?? "";

async function get(path) {
  const started = performance.now();
  const response = await fetch(`http://localhost:${port}${path}`, {
    headers: { "X-Aws-Parameters-Secrets-Token": token },
  });
  return { status: response.status, body: await response.json(), ms: +(performance.now() - started).toFixed(2) };
}

const getParameter = (name, decrypt = false) =>
  get(`/systemsmanager/parameters/get?${new URLSearchParams({ name, withDecryption: String(decrypt) })}`);
const getSecret = (secretId) => get(`/secretsmanager/get?${new URLSearchParams({ secretId })}`);
const masked = (v) => (v == null ? null : `${v.slice(0, 3)}... (${v.length} chars)`);
// A parameter's value, masked when it is a SecureString: never print secrets.
const shown = (body) => (body.Parameter?.Type === "SecureString" ? masked(body.Parameter.Value) : body.Parameter?.Value ?? null);

// Function init, during Lambda's INIT phase.
const initRead = await getParameter(process.env.DEMO_PARAMETER ?? "/demo/greeting");

async function handler(event) {
  const parameter = await getParameter(event.parameter ?? "/demo/greeting", true);
  const secret = await getSecret(event.secret ?? "demo/api-key");
  return {
    during_init: { status: initRead.status, value: initRead.body.Parameter?.Value ?? null },
    parameter: { status: parameter.status, ms: parameter.ms, value: shown(parameter.body), error: parameter.body.__type ?? null },
    secret: { status: secret.status, ms: secret.ms, value: masked(secret.body.SecretString), error: secret.body.__type ?? null },
  };
}

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation`;
for (;;) {
  const next = await fetch(`${api}/next`);
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json().catch(() => ({}));
  const result = await handler(event ?? {});
  await fetch(`${api}/${requestId}/response`, { method: "POST", body: JSON.stringify(result) });
}
