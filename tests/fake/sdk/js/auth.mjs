// node auth.mjs ws://127.0.0.1:PORT TOKEN: connect with an API token; print the outcome as JSON.
import { LMStudioClient } from "@lmstudio/sdk";

const [baseUrl, apiToken] = process.argv.slice(2);
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
try {
  const client = new LMStudioClient({ baseUrl, apiToken, logger: quiet });
  const models = await client.system.listDownloadedModels();
  console.log(JSON.stringify({ ok: models.length }));
} catch (error) {
  console.log(JSON.stringify({ error: String(error && error.message ? error.message : error) }));
}
process.exit(0);
