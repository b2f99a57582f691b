'use strict';
/**
 * getAccessToken() against the real server (`wxauth dev`), its JWTs verified the way another
 * backend would: Node's `jose`, given only the JWKS URL.
 */

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { after, before, test } = require('node:test');

const { createClient } = require('..');
const { createFakeWx } = require('./fake-wx');
const { startServer } = require('./server');

const JWT_TTL_S = 60;
let server;
let jose;

before(async () => {
  jose = await import('jose');
  server = await startServer({ WXAUTH_JWT_TTL: String(JWT_TTL_S) });
});

after(async () => {
  if (server) await server.stop();
});

function phone(clock) {
  const user = 'sdk-' + crypto.randomBytes(6).toString('hex');
  const fake = createFakeWx({ simulator: server.url, appid: server.appid, user: user });
  const options = { baseUrl: server.url, appid: server.appid, wx: fake.wx };
  if (clock) options.now = () => clock.ms;
  return Object.assign(fake, { client: createClient(options) });
}

function mints(fake) {
  return fake.log.filter((line) => line === 'POST /v1/token').length;
}

async function verify(token) {
  const jwks = jose.createRemoteJWKSet(new URL(server.url + '/.well-known/jwks.json'));
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer: server.url,
    audience: server.appid,
    algorithms: ['ES256'],
  });
  return { payload, protectedHeader };
}

test('the access token verifies with jose from the JWKS URL alone', async () => {
  const p = phone();
  const token = await p.client.getAccessToken();
  const me = await p.client.getMe();
  const { payload, protectedHeader } = await verify(token);
  assert.equal(payload.sub, me.id);
  assert.equal(payload.azp, server.appid);
  assert.equal(payload.exp - payload.iat, JWT_TTL_S);
  assert.equal(protectedHeader.alg, 'ES256');
  assert.ok(protectedHeader.kid);
});

test('a tampered access token is refused by jose', async () => {
  const token = await phone().client.getAccessToken();
  const [head, body, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  claims.sub = 'someone-else';
  const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
  await assert.rejects(verify(head + '.' + forged + '.' + signature), {
    code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  });
});

test('concurrent callers share one request, and the token is cached', async () => {
  const p = phone();
  const tokens = await Promise.all(Array.from({ length: 8 }, () => p.client.getAccessToken()));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(mints(p), 1);
  assert.equal(await p.client.getAccessToken(), tokens[0]);
  assert.equal(mints(p), 1);
  assert.equal(p.counts.login, 1);
});

test('it is renewed before it expires, and on force', async () => {
  const clock = { ms: Date.now() };
  const p = phone(clock);
  const first = await p.client.getAccessToken();
  clock.ms += (JWT_TTL_S - 13) * 1000; // within the last fifth of its life: still kept
  assert.equal(await p.client.getAccessToken(), first);
  clock.ms += 2000;
  const renewed = await p.client.getAccessToken();
  assert.notEqual(renewed, first);
  assert.equal(mints(p), 2);
  const forced = await p.client.getAccessToken({ force: true });
  assert.notEqual(forced, renewed);
  assert.equal(mints(p), 3);
});

test('after logout the old session mints nothing and a new login mints again', async () => {
  const p = phone();
  const first = await p.client.getAccessToken();
  const held = p.client.getSession().token;
  await p.client.logout();
  const refused = await fetch(server.url + '/v1/token', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + held },
  });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error, 'invalid_token');
  const next = await p.client.getAccessToken(); // logs in again first
  assert.notEqual(next, first);
  assert.equal(p.counts.login, 2);
});
