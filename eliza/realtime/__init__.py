"""Trio-native Socket.IO v5 / Engine.IO v4 server (python-socketio's server needs asyncio).

Layout:
- `codec`: pure encode/decode of Engine.IO and Socket.IO text packets (`ProtocolError`); the
  SDK (`eliza.client`) shares it, so it imports nothing but the standard library.
- `engineio`: Engine.IO sessions, heartbeats and the per-session task.
- `transports`: the Quart views: HTTP long-polling, websocket, the upgrade between them.
- `_hypercorn_direct`: the broadcast fast path's writes to hypercorn's connections, checked
  at start-up, with `websocket.send` as the fall-back.
- `socketio`: `SocketIOServer` (namespace "/", auth, events, acks, rooms) and `Socket`.
- `hub`: the ElizaOS realtime events on top of it, fed by the bus.
- `events`: every ElizaOS event the server handles or sends, with its payload's schema;
  `asyncapi` turns them into the AsyncAPI 3.0 document (`GET /api/asyncapi.json`).

This package re-exports nothing, so importing the codec never pulls in Quart.
"""
