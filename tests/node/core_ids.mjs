// Prints the ids @elizaos/core computes for the names given as JSON in argv[2].
import { stringToUuid, createUniqueUuid, validateUuid } from '@elizaos/core';
const names = JSON.parse(process.argv[2]);
const agentId = stringToUuid('Eliza');
console.log(JSON.stringify({
  agentId,
  stringToUuid: names.map((n) => stringToUuid(n)),
  unique: names.map((n) => createUniqueUuid({ agentId }, n)),
  valid: names.map((n) => validateUuid(n) !== null),
}));
