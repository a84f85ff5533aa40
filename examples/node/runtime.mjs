// A minimal Lambda custom runtime (Runtime API 2018-06-01) for Node.js 18+, no packages.
// Loads `module.function` from _HANDLER (an .mjs file next to this one), then loops:
// GET invocation/next -> handler(event, context) -> POST .../response, or .../error with the exception.
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;

async function post(url, body, errorType) {
  const headers = { "Content-Type": "application/json" };
  if (errorType) headers["Lambda-Runtime-Function-Error-Type"] = errorType;
  await (await fetch(url, { method: "POST", headers, body: JSON.stringify(body) })).arrayBuffer();
}

// An error may name its own errorType (PscacheError carries pscache's error code (X-Amzn-ErrorType)).
const errorBody = (err) => ({
  errorType: err?.errorType || err?.name || "Error",
  errorMessage: String(err?.message ?? err),
  stackTrace: String(err?.stack ?? "").split("\n").slice(1),
});

const [moduleName, functionName] = (process.env._HANDLER || "function.handler").split(/\.(?=[^.]+$)/);
let handler;
try {
  const here = dirname(fileURLToPath(import.meta.url));
  handler = (await import(pathToFileURL(join(here, `${moduleName}.mjs`))))[functionName];
  if (typeof handler !== "function") throw new TypeError(`${moduleName}.${functionName} is not a function`);
} catch (err) {
  const body = errorBody(err);
  await post(`${api}/init/error`, body, body.errorType);
  process.exit(1);
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const requestId = next.headers.get("lambda-runtime-aws-request-id");
  const text = await next.text();
  const context = {
    awsRequestId: requestId,
    invokedFunctionArn: next.headers.get("lambda-runtime-invoked-function-arn"),
    getRemainingTimeInMillis: () => Math.max(0, Number(next.headers.get("lambda-runtime-deadline-ms")) - Date.now()),
  };
  try {
    const result = await handler(text ? JSON.parse(text) : null, context);
    await post(`${api}/invocation/${requestId}/response`, result ?? null);
  } catch (err) {
    const body = errorBody(err);
    await post(`${api}/invocation/${requestId}/error`, body, body.errorType);
  }
}
