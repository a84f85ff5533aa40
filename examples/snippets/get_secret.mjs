// The README's Node.js example, run by tests/test_readme.py: `node get_secret.mjs` prints the secret "prod/db".
// The lines between the readme markers are the README's code block, character for character (the test checks it).

// readme:begin
const port = process.env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? "2773";
const r = await fetch(`http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent("prod/db")}`,
  { headers: { "X-Aws-Parameters-Secrets-Token": process.env.AWS_SESSION_TOKEN } });
const { SecretString } = await r.json();
// readme:end

console.log(SecretString);
