// Drives @elizaos/api-client 1.7.2's messaging methods against a live server (argv[2]).
// Prints one JSON line with what each call returned; the pytest side asserts on it.
import { ElizaClient } from '@elizaos/api-client';

const baseUrl = process.argv[2];
const userId = '965189c0-221e-42f3-89eb-fb91df1f8fe8';
const client = ElizaClient.create({ baseUrl, headers: { 'X-Entity-Id': userId } });
const m = client.messaging;
const out = {};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { agents } = await client.agents.listAgents();
const agentId = agents[0].id;
out.current = await m.getCurrentMessageServer();
out.servers = await m.listMessageServers();
out.createdServer = await m.createMessageServer({ name: 'node server', sourceType: 'node-test' });
const serverId = out.createdServer.server.id;
out.addAgentToServer = await client.agents.addAgentToMessageServer(serverId, agentId);
out.agentsForServer = await client.agents.getAgentsForMessageServer(serverId);
out.serversForAgent = await client.agents.getMessageServersForAgent(agentId);
out.removeAgentFromServer = await client.agents.removeAgentFromMessageServer(serverId, agentId);
out.agentsAfterRemove = await client.agents.getAgentsForMessageServer(serverId);

const group = await m.createGroupChannel({ name: 'node group', participantIds: [userId] });
out.group = group;
out.serverChannels = await m.getMessageServerChannels('00000000-0000-0000-0000-000000000000');
out.dm = await m.getOrCreateDmChannel({ participantIds: [userId, agentId] });
out.dmAgain = await m.getOrCreateDmChannel({ participantIds: [userId, agentId] });
out.details = await m.getChannelDetails(group.id);
out.addAgent = await m.addAgentToChannel(group.id, agentId);
out.participants = await m.getChannelParticipants(group.id);
out.removeAgent = await m.removeAgentFromChannel(group.id, agentId);
out.participantsAfter = await m.getChannelParticipants(group.id);

// A DM with the agent: postMessage returns the stored message (the server takes the author
// from X-Entity-Id, since this client sends only content and metadata).
out.posted = await m.postMessage(out.dm.id, 'I feel anxious about my work', {});
let listed = [];
for (let i = 0; i < 250 && listed.length < 2; i++) {
  listed = (await m.getChannelMessages(out.dm.id, { limit: 50 })).messages;
  if (listed.length < 2) await sleep(20);
}
out.listed = listed;
out.submitted = await m.submitMessage({ agentId, channelId: out.dm.id, content: 'a note from the agent' });
out.completed = await m.completeMessage({ messageId: out.submitted.id, status: 'completed' });
for (const text of ['one more', 'and another']) await m.postMessage(out.dm.id, text, {});
// Let the agent answer both before the history is cleared, so no reply lands after it.
for (let i = 0; i < 250; i++) {
  const replies = (await m.getChannelMessages(out.dm.id, { limit: 1000 })).messages
    .filter((x) => x.authorId === agentId && x.sourceType === 'agent_response');
  if (replies.length >= 3) break;
  await sleep(20);
}
out.title = await m.generateChannelTitle(out.dm.id, agentId);
out.deleteMessage = await m.deleteMessage(out.dm.id, out.posted.id);
out.afterDelete = (await m.getChannelMessages(out.dm.id, { limit: 1000 })).messages.map((x) => x.id);
out.updated = await m.updateChannel(group.id, { name: 'renamed group', metadata: { a: 1 } });
out.cleared = await m.clearChannelHistory(out.dm.id);
out.afterClear = (await m.getChannelMessages(out.dm.id)).messages;
out.deleted = await m.deleteChannel(group.id);
try {
  await m.getChannelDetails(group.id);
  out.afterDeleteError = null;
} catch (err) {
  out.afterDeleteError = { code: err.code, status: err.status };
}
console.log(JSON.stringify(out));
