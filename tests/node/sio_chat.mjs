// Drives the published socket.io-client 4.8 against a live server, as the ElizaOS web UI does.
// argv[2] is a JSON config: {url, scenario: "chat" | "auth", transports?, entityId, agentId?,
// channelId?, apiKey?, text?, restUrl? (where its REST calls go; default url)}. Prints one
// JSON line with what happened; pytest asserts on it.
import { io } from 'socket.io-client';

const cfg = JSON.parse(process.argv[2]);
const out = { events: [] };
const SERVER_ID = '00000000-0000-0000-0000-000000000000';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Waits for an event (recorded by onAny) whose first argument satisfies `pred`, including
// ones that arrived before the call.
function recorder(socket) {
  const seen = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    const item = { event, data: args[0] ?? null, at: Date.now() };
    seen.push(item);
    out.events.push(item);
    for (const w of [...waiters]) {
      if (w.event === event && w.pred(item.data)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(item.data);
      }
    }
  });
  return (event, pred = () => true, ms = 10000) => {
    const hit = seen.find((s) => s.event === event && pred(s.data));
    if (hit) return Promise.resolve(hit.data);
    return withTimeout(new Promise((resolve) => waiters.push({ event, pred, resolve })), ms, event);
  };
}

function connectResult(socket, ms = 10000) {
  return withTimeout(
    new Promise((resolve) => {
      socket.once('connect', () => resolve({ connected: true }));
      socket.once('connect_error', (err) => resolve({ connected: false, error: err.message }));
    }),
    ms,
    'connect',
  );
}

async function restPost(path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (cfg.apiKey) headers['X-API-KEY'] = cfg.apiKey;
  const res = await fetch((cfg.restUrl || cfg.url) + path, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function chat() {
  const options = { auth: { entityId: cfg.entityId }, reconnection: false };
  if (cfg.apiKey) options.auth.apiKey = cfg.apiKey;
  if (cfg.transports) options.transports = cfg.transports;
  const socket = io(cfg.url, options);
  const waitFor = recorder(socket);
  try {
    const upgraded = new Promise((resolve) => {
      socket.io.on('open', () => {
        out.initialTransport = socket.io.engine.transport.name;
        socket.io.engine.on('upgrade', (t) => resolve(t.name));
      });
    });
    out.connect = await connectResult(socket);
    if (!out.connect.connected) return;
    out.authenticated = await waitFor('authenticated');
    out.connectionEstablished = await waitFor('connection_established');
    if (!cfg.transports) {
      out.upgradedTo = await withTimeout(upgraded, 10000, 'the websocket upgrade');
    }

    // ROOM_JOINING through the "message" event, as the UI sends it.
    socket.emit('message', {
      type: 1,
      payload: { channelId: cfg.channelId, roomId: cfg.channelId, entityId: cfg.entityId },
    });
    out.channelJoined = await waitFor('channel_joined', (d) => d.channelId === cfg.channelId);
    out.roomJoined = await waitFor('room_joined', (d) => d.channelId === cfg.channelId);

    // SEND_MESSAGE, with an ack asked for.
    const clientMessageId = crypto.randomUUID();
    out.clientMessageId = clientMessageId;
    out.sendAck = await socket.timeout(10000).emitWithAck('message', {
      type: 2,
      payload: {
        senderId: cfg.entityId,
        senderName: 'user',
        message: cfg.text,
        channelId: cfg.channelId,
        roomId: cfg.channelId,
        messageServerId: SERVER_ID,
        messageId: clientMessageId,
        source: 'client_chat',
        attachments: [],
        metadata: { channelType: 'DM', isDm: true, targetUserId: cfg.agentId },
      },
    });
    out.echo = await waitFor('messageBroadcast', (d) => d.clientMessageId === clientMessageId);
    out.messageAck = await waitFor('messageAck', (d) => d.clientMessageId === clientMessageId);
    out.reply = await waitFor('messageBroadcast', (d) => d.senderId === cfg.agentId, 15000);
    out.complete = await waitFor('messageComplete', (d) => d.channelId === cfg.channelId, 15000);

    // Log streaming: subscribe, see a server log line, narrow the filter, unsubscribe.
    socket.emit('subscribe_logs');
    out.logSubscribed = await waitFor('log_subscription_confirmed', (d) => d.subscribed === true);
    socket.emit('update_log_filters', { agentName: 'all', level: 'info' });
    out.filtersInfo = await waitFor('log_filters_updated', (d) => d.filters?.level === 'info');
    const first = `LogProbe${Date.now()}`;
    out.createFirst = await restPost('/api/agents', { characterJson: { name: first, bio: ['probe'] } });
    out.logEntry = await waitFor(
      'log_stream',
      (d) => typeof d?.payload?.msg === 'string' && d.payload.msg.includes(`agent ${first} created`),
    );
    socket.emit('update_log_filters', { level: 'error' });
    out.filtersError = await waitFor('log_filters_updated', (d) => d.filters?.level === 'error');
    const second = `Quiet${Date.now()}`;
    out.createSecond = await restPost('/api/agents', { characterJson: { name: second, bio: ['probe'] } });
    await sleep(500);
    out.filteredOut = !out.events.some(
      (e) => e.event === 'log_stream' && String(e.data?.payload?.msg).includes(second),
    );
    socket.emit('unsubscribe_logs');
    out.logUnsubscribed = await waitFor('log_subscription_confirmed', (d) => d.subscribed === false);
    out.finalTransport = socket.io.engine.transport.name;
  } finally {
    socket.disconnect();
  }
}

async function auth() {
  const base = { reconnection: false, ...(cfg.transports ? { transports: cfg.transports } : {}) };
  // No key at all: refused with connect_error.
  const bare = io(cfg.url, { ...base, auth: { entityId: cfg.entityId } });
  out.withoutKey = await connectResult(bare);
  bare.disconnect();
  // A wrong key: refused too.
  const wrong = io(cfg.url, { ...base, auth: { entityId: cfg.entityId, apiKey: 'wrong' } });
  out.wrongKey = await connectResult(wrong);
  wrong.disconnect();
  // auth.apiKey, as the web UI sends it.
  const good = io(cfg.url, { ...base, auth: { entityId: cfg.entityId, apiKey: cfg.apiKey } });
  const waitFor = recorder(good);
  out.withKey = await connectResult(good);
  if (out.withKey.connected) out.authenticated = await waitFor('authenticated');
  good.disconnect();
  // The X-API-KEY header (node's client can send extra headers on every transport).
  const header = io(cfg.url, {
    ...base, auth: { entityId: cfg.entityId }, extraHeaders: { 'X-API-KEY': cfg.apiKey },
  });
  out.withHeader = await connectResult(header);
  header.disconnect();
}

try {
  await (cfg.scenario === 'auth' ? auth() : chat());
} catch (err) {
  out.error = String(err?.stack ?? err);
}
console.log(JSON.stringify(out));
process.exit(0);
