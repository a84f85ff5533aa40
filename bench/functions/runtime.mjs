// The Runtime API loop of a custom runtime (Node.js 18+, no packages), shared by the Node bench functions.
import { createHash } from "node:crypto";
import http from "node:http";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");

// A new connection per call (agent: false): the emulator's Python server sends headers and body in two writes,
// and on a kept-alive connection Nagle plus the delayed ACK would add ~40 ms that Lambda's Runtime API does not.
function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host, port, method, path: `/2018-06-01/runtime/invocation${path}`, agent: false },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks).toString() }));
      });
    request.on("error", reject);
    request.end(body);
  });
}

export async function serve(handler) {
  for (;;) {
    const next = await call("GET", "/next");
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    let kind = "response";
    let result;
    try {
      result = await handler(next.body ? JSON.parse(next.body) : {});
    } catch (err) {
      kind = "error";
      result = { errorMessage: String(err?.message ?? err), errorType: err?.name ?? "Error" };
    }
    await call("POST", `/${requestId}/${kind}`, JSON.stringify(result));
  }
}

// What every bench function returns: the parameter, and only a digest of the secret (never its value).
export const answer = (parameter, secret) => ({
  parameter,
  secret_sha256: createHash("sha256").update(secret).digest("hex"),
});
