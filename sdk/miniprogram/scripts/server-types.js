'use strict';
// Writes test/server-types.d.ts: the server's response bodies as TypeScript, from the OpenAPI
// schema of a `wxauth dev` started from the repository's .venv. Run it after changing the
// server's schemas, then make index.d.ts agree (npm run test:types says where it does not).

const fs = require('node:fs');
const path = require('node:path');

const { renderTypes } = require('../test/openapi-types');
const { startServer } = require('../test/server');

const OUT = path.join(__dirname, '..', 'test', 'server-types.d.ts');

async function main() {
  const server = await startServer();
  try {
    const openapi = await (await fetch(server.url + '/openapi.json')).json();
    fs.writeFileSync(OUT, renderTypes(openapi));
  } finally {
    await server.stop();
  }
  console.log('wrote ' + path.relative(process.cwd(), OUT));
}

main().catch(function failed(error) {
  console.error(error);
  process.exitCode = 1;
});
