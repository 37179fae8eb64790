// Prints the official AsyncAPI 3.0.0 JSON schema (npm's @asyncapi/specs, the one the AsyncAPI
// tools validate with) on one line, for tests/api/test_asyncapi.py to validate against.
import specs from '@asyncapi/specs';

console.log(JSON.stringify(specs.schemasWithoutId['3.0.0']));
