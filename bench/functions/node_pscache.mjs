// Reads one parameter and one secret per invoke through pscache on localhost (fetch, no packages).
import { answer, serve } from "./runtime.mjs";

const base = `http://localhost:${process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? "2773"}`;
const headers = { "X-Aws-Parameters-Secrets-Token": process.env.AWS_SESSION_TOKEN ?? "" };

async function get(path) {
  const response = await fetch(`${base}${path}`, { headers });
  if (response.status !== 200) throw new Error(`pscache answered ${response.status} for ${path.split("?")[0]}`);
  return response.json();
}

await serve(async () => {
  const parameter = await get(`/systemsmanager/parameters/get?${new URLSearchParams({ name: process.env.BENCH_PARAMETER })}`);
  const secret = await get(`/secretsmanager/get?${new URLSearchParams({ secretId: process.env.BENCH_SECRET })}`);
  return answer(parameter.Parameter.Value, secret.SecretString);
});
