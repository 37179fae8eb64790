// The api-client against a server with ELIZA_SERVER_AUTH_TOKEN set.
// Usage: node api_client_auth.mjs <baseUrl> <apiKey>; prints ONE JSON line.
import { ElizaClient } from '@elizaos/api-client';

const [baseUrl, apiKey] = process.argv.slice(2);
const out = {};
async function step(name, client, fn) {
  try {
    out[name] = await fn(client);
  } catch (e) {
    out[name] = { error: { code: e?.code, status: e?.status, message: e?.message } };
  }
}
const make = (key) => ElizaClient.create({ baseUrl, apiKey: key, timeout: 10000 });
await step('noKey', make(undefined), (c) => c.agents.listAgents());
await step('wrongKey', make('wrong'), (c) => c.server.ping());
await step('rightKey', make(apiKey), (c) => c.agents.listAgents());
await step('rightKeyPing', make(apiKey), (c) => c.server.ping());
console.log(JSON.stringify(out));
