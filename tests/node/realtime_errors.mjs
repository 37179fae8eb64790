// socket.io-client 4.8 connect errors against the Python server: an unknown namespace and
// a refused auth, each surfaced as connect_error. Prints one JSON object.
// Usage: node realtime_errors.mjs <http-url> <default|websocket>
import { io } from 'socket.io-client';

const [url, mode] = process.argv.slice(2);
const base = { reconnection: false, forceNew: true, timeout: 5000 };
if (mode === 'websocket') base.transports = ['websocket'];

const connectError = (socket) =>
  Promise.race([
    new Promise((resolve) => {
      socket.once('connect', () => resolve({ connected: true }));
      socket.once('connect_error', (error) => resolve({ message: error.message }));
    }),
    new Promise((resolve) => setTimeout(() => resolve({ timeout: true }), 5000)),
  ]).finally(() => socket.disconnect());

async function main() {
  const result = {
    namespace: await connectError(
      io(`${url}/nonexistent`, { ...base, auth: { token: 'secret' } }),
    ),
    auth: await connectError(io(url, { ...base, auth: { token: 'wrong' } })),
    noAuth: await connectError(io(url, base)),
  };
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (error) => {
    console.log(JSON.stringify({ error: String(error) }));
    process.exit(1);
  },
);
