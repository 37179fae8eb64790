// Calls every public method of @elizaos/api-client 1.7.2 against a live server (argv[2]).
// The methods are enumerated from the client's services (their prototypes, less the members
// the package's own type declarations mark `private`), so a method added to the list cannot
// be missed: one without a planned call is reported as `unplanned`.
// Prints ONE JSON line: {methods, unplanned, stale, results: {"service.method": {requests:
// [{method, path, status}], ok | error}}, facts}.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ElizaClient } from '@elizaos/api-client';

const baseUrl = process.argv[2];
const wavPath = process.argv[3];
const userId = '965189c0-221e-42f3-89eb-fb91df1f8fe8';
const otherUser = 'a3c5b7e1-5f0e-4d8b-9c1a-2b3c4d5e6f70';
const client = ElizaClient.create({ baseUrl, timeout: 60000, headers: { 'X-Entity-Id': userId } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every HTTP request a method makes, with the status it got.
let requests = null;
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  const response = await realFetch(url, init);
  if (requests) {
    const u = new URL(String(url));
    requests.push({ method: init?.method || 'GET', path: u.pathname + u.search,
                    status: response.status });
  }
  return response;
};

function publicMethods() {
  const declarations = join(dirname(createRequire(import.meta.url).resolve('@elizaos/api-client')),
                            'api-client', 'src', 'services');
  const names = [];
  for (const [service, instance] of Object.entries(client)) {
    const proto = Object.getPrototypeOf(instance);
    const declared = readFileSync(join(declarations, `${service}.d.ts`), 'utf8');
    const hidden = new Set([...declared.matchAll(/^\s*private (\w+);/gm)].map((m) => m[1]));
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && typeof proto[name] === 'function' && !hidden.has(name)) {
        names.push(`${service}.${name}`);
      }
    }
  }
  return names;
}

const results = {};
const facts = {};
async function call(name, fn) {
  requests = [];
  const entry = { requests };
  try {
    const value = await fn();
    entry.ok = value === undefined ? null : value;
  } catch (e) {
    entry.error = { code: e?.code, status: e?.status, message: e?.message };
  }
  requests = null;
  results[name] = entry;
  return entry.ok;
}

async function until(what, fn, check) {
  for (let i = 0; i < 300; i++) {
    const value = await fn();
    if (check(value)) return value;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const wav = readFileSync(wavPath);
const wavBlob = () => new Blob([wav], { type: 'audio/wav' });

// --- server and system
await call('server.ping', () => client.server.ping());
await call('server.hello', () => client.server.hello());
await call('server.checkHealth', () => client.server.checkHealth());
await call('server.getStatus', () => client.server.getStatus());
await call('server.getDebugInfo', () => client.server.getDebugInfo());
await call('server.submitLogs', () => client.server.submitLogs(
  [{ level: 'info', message: 'sweep says hello', source: 'sweep' }]));
await call('system.getEnvironment', () => client.system.getEnvironment());
await call('system.updateLocalEnvironment', () =>
  client.system.updateLocalEnvironment({ SWEEP_SETTING: 'on' }));
// A client-side stub: it throws before any request (the client says to clear all instead).
await call('system.deleteLog', () => client.system.deleteLog(randomUUID()));

// --- agents: Eliza (the default agent) and a speaking agent made here
const eliza = (await call('agents.listAgents', () => client.agents.listAgents()))
  .agents.find((a) => a.name === 'Eliza').id;
facts.eliza = eliza;
const speaker = (await call('agents.createAgent', () => client.agents.createAgent({
  characterJson: { name: 'SweepSpeaker', bio: ['Speaks for the sweep.'], plugins: ['speech'] },
}))).id;
await call('agents.getAgent', () => client.agents.getAgent(speaker));
await call('agents.startAgent', () => client.agents.startAgent(speaker));
await call('agents.updateAgent', () => client.agents.updateAgent(speaker, { system: 'Be brief.' }));
await call('agents.getAgentPanels', () => client.agents.getAgentPanels(eliza));

// --- message servers and channels
await call('messaging.getCurrentMessageServer', () => client.messaging.getCurrentMessageServer());
await call('messaging.listMessageServers', () => client.messaging.listMessageServers());
const msgServer = (await call('messaging.createMessageServer', () =>
  client.messaging.createMessageServer({ name: 'sweep server', sourceType: 'sweep' }))).server.id;
await call('messaging.syncMessageServerChannels', () =>
  client.messaging.syncMessageServerChannels(msgServer, { channels: [
    { id: randomUUID(), name: 'synced', type: 'GROUP', sourceId: 'outside-1' }] }));
await call('messaging.getMessageServerChannels', () =>
  client.messaging.getMessageServerChannels(msgServer));
await call('agents.addAgentToMessageServer', () =>
  client.agents.addAgentToMessageServer(msgServer, eliza));
await call('agents.getAgentsForMessageServer', () =>
  client.agents.getAgentsForMessageServer(msgServer));
await call('agents.getMessageServersForAgent', () =>
  client.agents.getMessageServersForAgent(eliza));

const channel = (await call('messaging.createChannel', () =>
  client.messaging.createChannel({ name: 'sweep channel', type: 'GROUP' }))).id;
const group = (await call('messaging.createGroupChannel', () =>
  client.messaging.createGroupChannel({ name: 'sweep group', participantIds: [userId] }))).id;
const dm = (await call('messaging.getOrCreateDmChannel', () =>
  client.messaging.getOrCreateDmChannel({ participantIds: [userId, eliza] }))).id;
await call('messaging.getChannelDetails', () => client.messaging.getChannelDetails(group));
await call('messaging.addAgentToChannel', () => client.messaging.addAgentToChannel(group, eliza));
await call('messaging.getChannelParticipants', () =>
  client.messaging.getChannelParticipants(group));
await call('messaging.updateChannel', () =>
  client.messaging.updateChannel(group, { name: 'sweep group renamed' }));
await call('messaging.addUserToChannel', () => client.messaging.addUserToChannel(group, otherUser));
await call('messaging.addUsersToChannel', () =>
  client.messaging.addUsersToChannel(group, [otherUser, randomUUID()]));
await call('messaging.removeUserFromChannel', () =>
  client.messaging.removeUserFromChannel(group, otherUser));
facts.groupParticipants = await client.messaging.getChannelParticipants(group);

// A DM turn with Eliza: a message, her reply, memories, a run and its logs.
const posted = (await call('messaging.postMessage', () =>
  client.messaging.postMessage(dm, 'I feel anxious about my work', {}))).id;
await until('Eliza to reply in the DM',
  () => client.messaging.getChannelMessages(dm, { limit: 50 }),
  (page) => page.messages.some((m) => m.authorId === eliza));
await call('messaging.getChannelMessages', () =>
  client.messaging.getChannelMessages(dm, { limit: 50 }));
await call('messaging.getMessage', () => client.messaging.getMessage(posted));
await call('messaging.updateMessage', () =>
  client.messaging.updateMessage(posted, 'I feel anxious about my job'));
await call('messaging.searchMessages', () =>
  client.messaging.searchMessages({ query: 'anxious', channelId: dm }));
const submitted = (await call('messaging.submitMessage', () => client.messaging.submitMessage(
  { agentId: eliza, channelId: dm, content: 'a note from the agent' }))).id;
await call('messaging.completeMessage', () =>
  client.messaging.completeMessage({ messageId: submitted, status: 'completed' }));
await call('messaging.ingestExternalMessages', () => client.messaging.ingestExternalMessages({
  platform: 'sweep', channelId: channel,
  messages: [{ id: 'outside-msg-1', authorId: 'outside-user', content: 'from outside',
               timestamp: Date.now() }] }));
await call('messaging.generateChannelTitle', () =>
  client.messaging.generateChannelTitle(dm, eliza));

// --- runs and agent logs of that turn
const runs = await until('a completed run', () => client.runs.listRuns(eliza),
                         (r) => r.runs.some((run) => run.status === 'completed'));
await call('runs.listRuns', () => client.runs.listRuns(eliza, { limit: 10 }));
await call('runs.getRun', () => client.runs.getRun(eliza, runs.runs[0].runId));
const logs = await call('agents.getAgentLogs', () => client.agents.getAgentLogs(eliza, { count: 20 }));
await call('agents.deleteAgentLog', () => client.agents.deleteAgentLog(eliza, logs[0].id));
await call('system.getGlobalLogs', () => client.system.getGlobalLogs({ agentName: 'Eliza' }));

// --- memories, rooms, worlds
const memories = (await call('memory.getAgentMemories', () =>
  client.memory.getAgentMemories(eliza))).memories;
const rooms = (await call('memory.listAgentRooms', () => client.memory.listAgentRooms(eliza))).rooms;
const room = rooms.find((r) => r.channelId === dm).id;
await call('memory.getRoom', () => client.memory.getRoom(eliza, room));
await call('memory.getRoomMemories', () => client.memory.getRoomMemories(eliza, room, { limit: 10 }));
await call('memory.getAgentInternalMemories', () =>
  client.memory.getAgentInternalMemories(eliza, room, true));
const [first, second, third] = memories;
await call('memory.updateMemory', () =>
  client.memory.updateMemory(eliza, first.id, { content: { text: 'edited by the sweep' } }));
await call('memory.updateAgentInternalMemory', () =>
  client.memory.updateAgentInternalMemory(eliza, first.id, { metadata: { sweep: true } }));
await call('memory.deleteMemory', () => client.memory.deleteMemory(eliza, second.id));
await call('memory.deleteAgentInternalMemory', () =>
  client.memory.deleteAgentInternalMemory(eliza, (third ?? first).id));
await call('memory.createRoom', () =>
  client.memory.createRoom(eliza, { name: 'sweep room', type: 'GROUP' }));
await call('agents.getWorlds', () => client.agents.getWorlds());
const world = randomUUID();
await call('agents.addAgentToWorld', () => client.agents.addAgentToWorld(eliza, world));
await call('agents.updateAgentWorldSettings', () =>
  client.agents.updateAgentWorldSettings(eliza, world, { mode: 'quiet' }));
const groupServer = randomUUID();
await call('memory.createWorldFromMessageServer', () =>
  client.memory.createWorldFromMessageServer(groupServer,
                                             { messageServerId: groupServer, name: 'sweep world' }));
await call('memory.clearWorldMemories', () => client.memory.clearWorldMemories(groupServer));
await call('memory.deleteWorld', () => client.memory.deleteWorld(groupServer));

// --- media
await call('media.uploadAgentMedia', () => client.media.uploadAgentMedia(eliza, {
  file: new Blob(['sweep notes'], { type: 'text/plain' }), filename: 'notes.txt' }));
await call('media.uploadChannelMedia', () => client.media.uploadChannelMedia(dm,
  new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])], 'dot.png',
           { type: 'image/png' })));

// --- audio, with the speaking agent (espeak-ng and pocketsphinx)
await call('audio.generateSpeech', () =>
  client.audio.generateSpeech(speaker, { text: 'testing one two three' }));
await call('audio.synthesizeAudioMessage', () =>
  client.audio.synthesizeAudioMessage(speaker, { messageId: posted }));
await call('audio.transcribe', () => client.audio.transcribe(speaker, { audio: wavBlob() }));
await call('audio.speechConversation', () =>
  client.audio.speechConversation(speaker, { audio: wavBlob(), format: 'wav' }));
await call('audio.processSpeech', () => client.audio.processSpeech(speaker, wavBlob()));

// --- sessions
await call('sessions.checkHealth', () => client.sessions.checkHealth());
const session = (await call('sessions.createSession', () =>
  client.sessions.createSession({ agentId: eliza, userId }))).sessionId;
await call('sessions.getSession', () => client.sessions.getSession(session));
await call('sessions.sendMessage', () =>
  client.sessions.sendMessage(session, { content: 'Hello, I feel tired' }));
await call('sessions.sendMessageSync', () =>
  client.sessions.sendMessageSync(session, { content: 'I need some help' }));
await call('sessions.getMessages', () => client.sessions.getMessages(session, { limit: 10 }));
await call('sessions.listSessions', () => client.sessions.listSessions());
await call('sessions.deleteSession', () => client.sessions.deleteSession(session));

// --- jobs
await call('jobs.health', () => client.jobs.health());
const job = (await call('jobs.create', () =>
  client.jobs.create({ userId, agentId: eliza, content: 'My mother takes care of me' }))).jobId;
await call('jobs.getJob', () => client.jobs.getJob(job));
await call('jobs.poll', () => client.jobs.poll(job, { interval: 100 }));
await call('jobs.list', () => client.jobs.list({ limit: 5 }));
await call('jobs.createAndPoll', () => client.jobs.createAndPoll(
  { userId, agentId: eliza, content: 'I need some help' }, { interval: 100 }));
await call('jobs.createAndPollWithBackoff', () => client.jobs.createAndPollWithBackoff(
  { userId, agentId: eliza, content: 'I am unhappy' }, { initialInterval: 50 }));
await call('jobs.ask', () => client.jobs.ask(userId, 'I feel anxious about my work', eliza,
                                             { interval: 100 }));

// --- removals, the destructive ones last
await call('messaging.deleteMessage', () => client.messaging.deleteMessage(dm, submitted));
await call('memory.deleteGroupMemory', () => client.memory.deleteGroupMemory(dm, posted));
await call('memory.clearRoomMemories', () => client.memory.clearRoomMemories(eliza, room));
await call('memory.deleteAllAgentInternalMemories', () =>
  client.memory.deleteAllAgentInternalMemories(eliza, room));
await call('memory.clearAgentMemories', () => client.memory.clearAgentMemories(eliza));
await call('messaging.clearChannelHistory', () => client.messaging.clearChannelHistory(dm));
await call('memory.clearGroupChat', () => client.memory.clearGroupChat(group));
await call('messaging.removeAgentFromChannel', () =>
  client.messaging.removeAgentFromChannel(group, eliza));
await call('messaging.deleteChannel', () => client.messaging.deleteChannel(channel));
await call('agents.removeAgentFromMessageServer', () =>
  client.agents.removeAgentFromMessageServer(msgServer, eliza));
await call('messaging.deleteMessageServer', () => client.messaging.deleteMessageServer(msgServer));
await call('agents.stopAgent', () => client.agents.stopAgent(speaker));
await call('agents.deleteAgent', () => client.agents.deleteAgent(speaker));
await call('server.clearLogs', () => client.server.clearLogs());
await call('system.deleteGlobalLogs', () => client.system.deleteGlobalLogs());
await call('server.stopServer', () => client.server.stopServer());

const methods = publicMethods();
console.log(JSON.stringify({
  methods,
  unplanned: methods.filter((m) => !(m in results)),
  stale: Object.keys(results).filter((m) => !methods.includes(m)),
  results,
  facts,
}));
