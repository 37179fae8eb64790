// Drives @elizaos/api-client 1.7.2's sessions methods against a live server (argv[2]).
// Prints one JSON line with what each call returned; the pytest side asserts on it.
import { ElizaClient, ApiError } from '@elizaos/api-client';

const baseUrl = process.argv[2];
const userId = '965189c0-221e-42f3-89eb-fb91df1f8fe8';
const client = ElizaClient.create({ baseUrl });
const s = client.sessions;
const out = {};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const caught = async (fn) => {
  try {
    return { ok: await fn() };
  } catch (e) {
    return { error: e instanceof ApiError ? { code: e.code, status: e.status, message: e.message }
                                          : String(e) };
  }
};

const { agents } = await client.agents.listAgents();
const agentId = agents[0].id;
out.agentId = agentId;
out.health = await s.checkHealth();
out.created = await s.createSession({ agentId, userId, metadata: { platform: 'node' } });
const id = out.created.sessionId;
out.session = await s.getSession(id);
out.sent = await s.sendMessage(id, { content: 'Hello, I feel tired' });
out.sync = await s.sendMessageSync(id, { content: 'I need some help' });
// The websocket-transport reply arrives asynchronously: poll until both replies are stored.
let page = { messages: [] };
for (let i = 0; i < 250 && page.messages.length < 4; i++) {
  page = await s.getMessages(id, { limit: 10 });
  if (page.messages.length < 4) await sleep(20);
}
out.messages = page;
out.older = await s.getMessages(id, { limit: 10, before: new Date(page.cursors.after) });
out.newer = await s.getMessages(id, { limit: 10, after: page.cursors.before });
out.list = await s.listSessions();
out.deleted = await s.deleteSession(id);
out.afterDelete = await caught(() => s.getSession(id));
out.badCreate = await caught(() => s.createSession({ agentId: 'nope', userId }));
console.log(JSON.stringify(out));
