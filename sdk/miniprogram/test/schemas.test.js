'use strict';
/**
 * test/server-types.d.ts (what index.test-d.ts holds index.d.ts to) is what the real server's
 * OpenAPI schema says today.
 */

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');

const { renderTypes, tsType } = require('./openapi-types');
const { startServer } = require('./server');

const COMMITTED = path.join(__dirname, 'server-types.d.ts');
let server;

before(async () => {
  server = await startServer();
});

after(async () => {
  await (server && server.stop());
});

test('JSON Schema types become TypeScript types', () => {
  assert.equal(tsType({ type: 'string', format: 'date-time' }), 'string');
  assert.equal(tsType({ anyOf: [{ type: 'integer' }, { type: 'null' }] }), 'number | null');
  assert.equal(tsType({ type: 'string', const: 'Bearer' }), "'Bearer'");
  assert.equal(tsType({ $ref: '#/components/schemas/UserPublic' }), 'UserPublic');
  assert.equal(
    tsType({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'null' }] } }),
    '(string | null)[]',
  );
  assert.throws(() => tsType({ type: 'object' }), /no TypeScript type/);
});

test("test/server-types.d.ts matches the server's OpenAPI schema (node scripts/server-types.js)", async () => {
  const openapi = await (await fetch(server.url + '/openapi.json')).json();
  assert.equal(
    fs.readFileSync(COMMITTED, 'utf8'),
    renderTypes(openapi),
    'the server changed: run node scripts/server-types.js, then make index.d.ts agree',
  );
});
