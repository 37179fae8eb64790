// Drives @elizaos/api-client 1.7.2's jobs methods against a live server (argv[2]).
// Prints one JSON line with what each call returned; the pytest side asserts on it.
import { ElizaClient, ApiError } from '@elizaos/api-client';

const baseUrl = process.argv[2];
const userId = '965189c0-221e-42f3-89eb-fb91df1f8fe8';
const client = ElizaClient.create({ baseUrl });
const j = client.jobs;
const out = {};

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
out.healthBefore = await j.health();
out.ask = await j.ask(userId, 'I feel anxious about my work', agentId, { interval: 100 });
out.askDefaultAgent = await j.ask(userId, 'Hello there', undefined, { interval: 100 });
out.polled = await j.createAndPoll({ userId, agentId, content: 'I need some help',
                                     metadata: { source: 'node' }, timeoutMs: 10000 },
                                   { interval: 100, maxAttempts: 100 });
out.backoff = await j.createAndPollWithBackoff({ userId, agentId, content: 'I am unhappy' },
                                               { initialInterval: 50, maxAttempts: 40 });
out.created = await j.create({ userId, agentId, content: 'My mother takes care of me' });
out.job = (await j.poll(out.created.jobId, { interval: 100 })).job;
out.fetched = await j.getJob(out.created.jobId);
out.list = await j.list({ limit: 2 });
out.listCompleted = await j.list({ status: 'completed' });
out.healthAfter = await j.health();
out.unknown = await caught(() => j.getJob('00000000-0000-4000-8000-000000000000'));
out.invalid = await caught(() => j.create({ userId, content: '' }));
out.tooShort = await caught(() => j.create({ userId, content: 'hi', timeoutMs: 10 }));
console.log(JSON.stringify(out));
