// socket.io-client 4.8 against the Python server: connect with auth, acks, a room
// broadcast, the transport after the upgrade, disconnect. Prints one JSON object.
// Usage: node realtime_client.mjs <http-url> <default|websocket>
import { io } from 'socket.io-client';

const [url, mode] = process.argv.slice(2);
const options = {
  auth: { token: 'secret', user: 'node' },
  reconnection: false,
  forceNew: true, // one Engine.IO connection per socket, as two browser tabs would have
  timeout: 5000,
};
if (mode === 'websocket') options.transports = ['websocket'];

const withTimeout = (promise, what, ms = 5000) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);

const connect = (socket) =>
  withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }),
    'connect',
  );

async function main() {
  const alice = io(url, options);
  // The engine is created synchronously with its first transport; the upgrade (if any)
  // may complete before or after the Socket.IO connect.
  const result = { initialTransport: alice.io.engine.transport.name };
  const upgraded = new Promise((resolve) =>
    alice.io.engine.once('upgrade', (transport) => resolve(transport.name)),
  );
  const bob = io(url, { ...options, auth: { token: 'secret', user: 'bob' } });
  const welcome = new Promise((resolve) => alice.once('welcome', resolve));
  const aliceBroadcasts = [];
  alice.on('broadcast', (data) => aliceBroadcasts.push(data));
  await Promise.all([connect(alice), connect(bob)]);

  result.welcome = await withTimeout(welcome, 'welcome');
  if (mode !== 'websocket') result.upgradedTo = await withTimeout(upgraded, 'upgrade');
  result.transport = alice.io.engine.transport.name;
  result.sid = alice.id;
  result.eioSid = alice.io.engine.id;

  result.ack = await withTimeout(
    new Promise((resolve) => alice.emit('echo', 'hi', { n: 1 }, (...args) => resolve(args))),
    'echo ack',
  );
  result.ackWithAck = await alice.timeout(5000).emitWithAck('echo', 'single');
  result.whoami = await alice.timeout(5000).emitWithAck('whoami');
  result.joined = [
    await alice.timeout(5000).emitWithAck('join', 'node-room'),
    await bob.timeout(5000).emitWithAck('join', 'node-room'),
  ];
  const received = new Promise((resolve) => bob.once('broadcast', resolve));
  result.sent = await alice.timeout(5000).emitWithAck('broadcast', 'node-room', { hello: 'node' });
  result.broadcast = await withTimeout(received, 'broadcast');
  await new Promise((resolve) => setTimeout(resolve, 200));
  result.selfBroadcasts = aliceBroadcasts.length; // skip_sid: the sender gets none

  result.sids = [alice.id, bob.id];
  alice.disconnect();
  bob.disconnect();
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.log(JSON.stringify({ error: String(error) }));
    process.exit(1);
  },
);
