// Drives the published @elizaos/api-client 1.7.2 against a live server.
// Usage: node api_client_agents.mjs <baseUrl> [apiKey]
// Prints ONE JSON line: {step: result | {error: {name, code, status, message}}}.
import { ElizaClient, ApiError } from '@elizaos/api-client';

const [baseUrl, apiKey] = process.argv.slice(2);
const client = ElizaClient.create({ baseUrl, apiKey: apiKey || undefined, timeout: 20000 });
const out = {};

async function step(name, fn) {
  try {
    const value = await fn();
    out[name] = value === undefined ? { undefined: true } : value;
  } catch (e) {
    out[name] = {
      error: {
        name: e?.constructor?.name,
        isApiError: e instanceof ApiError,
        code: e?.code,
        status: e?.status,
        message: e?.message,
      },
    };
  }
  return out[name];
}

const character = {
  name: 'ClientBot',
  bio: ['Made by the api-client test.'],
  plugins: [],
  settings: { secrets: { CLIENT_TOKEN: 'sk-client-secret' } },
};

await step('ping', () => client.server.ping());
await step('hello', () => client.server.hello());
await step('status', () => client.server.getStatus());
await step('health', () => client.server.checkHealth());
await step('version', () => client.system.get('/api/system/version'));
await step('listAgents', () => client.agents.listAgents());
const created = await step('createAgent', () => client.agents.createAgent({ characterJson: character }));
const id = created?.id;
await step('getAgent', () => client.agents.getAgent(id));
await step('listAfterCreate', () => client.agents.listAgents());
await step('startAgent', () => client.agents.startAgent(id));
await step('statusAfterStart', () => client.server.getStatus());
await step('getAgentRunning', () => client.agents.getAgent(id));
await step('updateAgent', () =>
  client.agents.updateAgent(id, { settings: { secrets: { CLIENT_TOKEN: '********' }, mood: 'calm' } }));
await step('stopAgent', () => client.agents.stopAgent(id));
await step('stopAgainFails', () => client.agents.stopAgent(id));
await step('getAgentStopped', () => client.agents.getAgent(id));
await step('deleteAgent', () => client.agents.deleteAgent(id));
await step('getDeletedFails', () => client.agents.getAgent(id));
await step('getBadIdFails', () => client.agents.getAgent('not-a-uuid'));
await step('createInvalidFails', () => client.agents.createAgent({ characterJson: { bio: 'no name' } }));
await step('getEnvironment', () => client.system.getEnvironment());
await step('updateLocalEnvironment', () =>
  client.system.updateLocalEnvironment({ CLIENT_SET: 'one', OTHER: 'two' }));
await step('getEnvironmentAfter', () => client.system.getEnvironment());
await step('globalLogs', () => client.system.getGlobalLogs({ level: 'all', limit: 5 }));
await step('listAgentsEnd', () => client.agents.listAgents());

console.log(JSON.stringify(out));
