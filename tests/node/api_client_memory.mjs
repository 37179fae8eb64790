// Drives @elizaos/api-client 1.7.2's memory, room, world and agent-log methods against a
// live server (argv[2]). Prints one JSON line with what each call returned.
import { randomUUID } from 'node:crypto';
import { ElizaClient, ApiError } from '@elizaos/api-client';

const baseUrl = process.argv[2];
const userId = '965189c0-221e-42f3-89eb-fb91df1f8fe8';
const client = ElizaClient.create({ baseUrl, headers: { 'X-Entity-Id': userId } });
const mem = client.memory;
const out = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failure = async (fn) => {
  try {
    await fn();
    return null;
  } catch (err) {
    return { code: err.code, status: err.status, isApiError: err instanceof ApiError };
  }
};

const { agents } = await client.agents.listAgents();
const agentId = agents[0].id;
out.agentId = agentId;

// Eliza answers a DM, so she holds real memories, a room, a world and logs.
const dm = await client.messaging.getOrCreateDmChannel({ participantIds: [userId, agentId] });
out.channelId = dm.id;
out.posted = await client.messaging.postMessage(dm.id, 'I am worried about my brother', {});
let memories = [];
for (let i = 0; i < 250 && memories.length < 2; i++) {
  memories = (await mem.getAgentMemories(agentId)).memories;
  if (memories.length < 2) await sleep(20);
}
let logs = [];
for (let i = 0; i < 250 && logs.length < 3; i++) {
  logs = await client.agents.getAgentLogs(agentId, { count: 10 });
  if (logs.length < 3) await sleep(20);
}
out.memories = memories;
out.logs = logs;
out.logsFiltered = await client.agents.getAgentLogs(agentId, { type: 'run_event' });
out.deleteLog = await client.agents.deleteAgentLog(agentId, logs[0].id);
out.logsAfter = (await client.agents.getAgentLogs(agentId)).map((l) => l.id);

out.rooms = await mem.listAgentRooms(agentId);
const room = out.rooms.rooms.find((r) => r.channelId === dm.id);
out.roomId = room.id;
out.room = await mem.getRoom(agentId, room.id);
out.roomMemories = await mem.getRoomMemories(agentId, room.id, { limit: 1 });
out.internal = await mem.getAgentInternalMemories(agentId, room.id, true);
const userMemory = memories.find((m) => m.entityId !== agentId);
out.updated = await mem.updateMemory(agentId, userMemory.id, { content: { text: 'edited' } });
out.afterUpdate = (await mem.getAgentMemories(agentId)).memories.find((m) => m.id === userMemory.id);
out.deleteMemory = await mem.deleteMemory(agentId, userMemory.id);
out.afterDeleteMemory = (await mem.getAgentMemories(agentId)).memories.map((m) => m.id);
out.clearRoom = await mem.clearRoomMemories(agentId, room.id);
out.afterClearRoom = (await mem.getRoomMemories(agentId, room.id)).memories;

out.createdRoom = await mem.createRoom(agentId, { name: 'node room', type: 'GROUP', metadata: { n: 1 } });
out.gotCreatedRoom = await mem.getRoom(agentId, out.createdRoom.id);
out.missingRoom = await failure(() => mem.getRoom(agentId, randomUUID()));

out.worlds = await client.agents.getWorlds();
const worldId = randomUUID();
out.addedWorld = await client.agents.addAgentToWorld(agentId, worldId);
out.worldSettings = await client.agents.updateAgentWorldSettings(agentId, worldId, { mode: 'quiet' });
out.worldsAfter = (await client.agents.getWorlds()).worlds.map((w) => w.id);

const serverId = randomUUID();
out.group = await mem.createWorldFromMessageServer(serverId, { messageServerId: serverId, name: 'node group' });
out.roomsWithGroup = (await mem.listAgentRooms(agentId)).rooms.map((r) => r.id);
out.clearWorld = await mem.clearWorldMemories(serverId);
out.deleteWorld = await mem.deleteWorld(serverId);
out.roomsAfterWorld = (await mem.listAgentRooms(agentId)).rooms.map((r) => r.id);

out.clearAll = await mem.clearAgentMemories(agentId);
out.afterClearAll = (await mem.getAgentMemories(agentId)).memories;
out.badAgent = await failure(() => mem.getAgentMemories('not-a-uuid'));
out.unknownAgent = await failure(() => mem.listAgentRooms(randomUUID()));
console.log(JSON.stringify(out));
