// The original ElizaOS server (1.7.2, the versions package-lock.json pins) for the benchmarks:
// one agent with plugin-sql (PGLite in DATA_DIR) and plugin-bootstrap, and a model plugin
// that answers at once with a fixed reply, so that a turn costs the server and not an LLM.
//
//   PORT=<port> DATA_DIR=<dir> [BENCH_RATE_LIMIT=off] node start.mjs
//
// Listens on 127.0.0.1 only; prints one line `READY <json>` (port, pid, agent ids) once the
// agent runs, and stops on SIGTERM/SIGINT.
import { AgentServer } from '@elizaos/server';
import sqlPlugin from '@elizaos/plugin-sql';
import bootstrapPlugin from '@elizaos/plugin-bootstrap';
import { ModelType } from '@elizaos/core';

process.env.SERVER_HOST = '127.0.0.1';
// The server reports errors to a hosted Sentry project unless told otherwise, and an empty
// SENTRY_DSN still means its own: point it at a closed loopback port so nothing leaves.
process.env.SENTRY_DSN = process.env.SENTRY_DSN || 'http://bench@127.0.0.1:9/0';

// The reply the bootstrap plugin's message handler parses: respond, with one REPLY action.
const instantReply = async (_runtime, params) => {
  const prompt = String(params?.prompt ?? '');
  const said = (prompt.match(/hello[^\n<]*/i)?.[0] ?? 'something').slice(0, 80);
  return '<response><name>BenchBot</name><reasoning>instant</reasoning>' +
    '<action>RESPOND</action><thought>instant</thought><actions>REPLY</actions>' +
    `<providers></providers><text>echo: ${said}</text></response>`;
};
const instantModel = {
  name: 'bench-instant-model',
  description: 'answers every text request at once with a fixed reply (benchmarks only)',
  models: { [ModelType.TEXT_SMALL]: instantReply, [ModelType.TEXT_LARGE]: instantReply },
};

// The original has no switch for its API rate limit (1,000 requests per 15 minutes per client
// address), which a throughput run passes within a second. With BENCH_RATE_LIMIT=off each
// block of 500 API requests is given a client address of its own (X-Forwarded-For, trusted
// from loopback only): the limiter still runs on every request, as it always does in the
// original, but never refuses one.
let apiRequests = 0;
const spreadClients = (req, _res, next) => {
  if (req.path.startsWith('/api/')) {
    const block = Math.floor(apiRequests++ / 500);
    req.headers['x-forwarded-for'] = `10.${(block >> 16) & 255}.${(block >> 8) & 255}.${block & 255}`;
  }
  next();
};
const rateLimitOff = (process.env.BENCH_RATE_LIMIT || '').toLowerCase() === 'off';

const server = new AgentServer();
await server.start({
  port: Number(process.env.PORT || 3100),
  dataDir: process.env.DATA_DIR || './.eliza-bench/db',
  middlewares: rateLimitOff ? [spreadClients] : [],
  agents: [{
    character: { name: 'BenchBot', bio: ['answers at once, for benchmarks'], settings: {} },
    plugins: [sqlPlugin, bootstrapPlugin, instantModel],
  }],
});
if (rateLimitOff) server.app.set('trust proxy', 'loopback');
const ready = {
  port: server.server.address().port,
  pid: process.pid,
  agents: server.getAllAgents().map((a) => a.agentId),
};
console.log(`READY ${JSON.stringify(ready)}`);

const shutdown = async () => {
  try {
    await server.stop();
  } finally {
    process.exit(0);
  }
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
