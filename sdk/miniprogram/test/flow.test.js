'use strict';
/**
 * The client against the real wxauth server and simulator (`wxauth dev` child processes):
 * one with the default session lifetimes, one whose tokens expire after 2 s unused.
 */

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { after, before, test } = require('node:test');

const { createClient, NetworkError, WxAuthError } = require('..');
const { createFakeWx, postJson } = require('./fake-wx');
const { freePort, sleep, startServer } = require('./server');

const IDLE_TTL_S = 2;
let main; // default lifetimes
let short; // tokens die after IDLE_TTL_S seconds unused

before(async () => {
  [main, short] = await Promise.all([
    startServer(),
    startServer({
      WXAUTH_SESSION_IDLE_TTL: String(IDLE_TTL_S),
      WXAUTH_SESSION_MAX_TTL: '3600',
      WXAUTH_SESSION_TOUCH_INTERVAL: '0',
    }),
  ]);
});

after(async () => {
  await Promise.all([main && main.stop(), short && short.stop()]);
});

function newUser() {
  return 'sdk-' + crypto.randomBytes(6).toString('hex');
}

/** A phone (the wx stand-in) and a client on it, for one simulated user. */
function phoneFor(server, extra) {
  const fake = createFakeWx(
    Object.assign({ simulator: server.url, appid: server.appid, user: newUser() }, extra),
  );
  const client = createClient({ baseUrl: server.url, appid: server.appid, wx: fake.wx });
  return Object.assign(fake, { client: client });
}

async function codeExchanges(server) {
  const stats = await (await fetch(server.url + '/sim/stats')).json();
  return stats.calls['/sns/jscode2session'] || 0;
}

async function statusWith(server, token) {
  return (await fetch(server.url + '/v1/me', { headers: { authorization: 'Bearer ' + token } }))
    .status;
}

/** Wait until a token unused since now has passed the short server's idle expiry. */
const idleOut = () => sleep(IDLE_TTL_S * 1000 + 600);

test('first login: wx.login, POST /v1/login, the token stored and used', async () => {
  const phone = phoneFor(main);
  const exchanges = await codeExchanges(main);
  const session = await phone.client.login();
  assert.equal(typeof session.token, 'string');
  assert.equal(session.newUser, true);
  assert.equal(phone.counts.login, 1);
  assert.equal(JSON.parse(phone.storage.get('wxauth_session')).token, session.token);
  const me = await phone.client.getMe();
  assert.equal(me.id, session.user.id);
  assert.equal(me.appid, main.appid);
  assert.equal(await codeExchanges(main), exchanges + 1);
});

test('a stored token is reused on the next launch: no wx.login, no code exchange', async () => {
  const first = phoneFor(main);
  const session = await first.client.login();
  const exchanges = await codeExchanges(main);
  const relaunch = createFakeWx({
    simulator: main.url,
    appid: main.appid,
    user: 'x',
    storage: first.storage,
  });
  const client = createClient({ baseUrl: main.url, wx: relaunch.wx });
  assert.equal((await client.login()).token, session.token);
  assert.equal((await client.getMe()).id, session.user.id);
  assert.equal(relaunch.counts.login, 0);
  assert.deepEqual(relaunch.log, ['GET /v1/me']);
  assert.equal(await codeExchanges(main), exchanges);
});

test('concurrent first calls share one login', async () => {
  const phone = phoneFor(main);
  const users = await Promise.all(Array.from({ length: 12 }, () => phone.client.getMe()));
  assert.equal(new Set(users.map((u) => u.id)).size, 1);
  assert.equal(phone.counts.login, 1);
  assert.equal(phone.log.filter((line) => line === 'POST /v1/login').length, 1);
});

test('a token past its local expiry is not sent: the client logs in first', async () => {
  let clock = Date.now();
  const fake = createFakeWx({ simulator: main.url, appid: main.appid, user: newUser() });
  const client = createClient({ baseUrl: main.url, wx: fake.wx, now: () => clock });
  const first = await client.login();
  clock = first.expiresAt + 1;
  assert.equal(client.getSession(), null);
  const me = await client.getMe();
  assert.equal(me.id, first.user.id);
  assert.equal(fake.counts.login, 2);
  assert.deepEqual(fake.log, ['POST /v1/login', 'POST /v1/login', 'GET /v1/me']);
});

test('a revoked token: one 401, one new login, the request retried and answered', async () => {
  const phone = phoneFor(main);
  const old = await phone.client.login();
  const revoked = await fetch(main.url + '/v1/logout', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + old.token },
  });
  assert.equal(revoked.status, 204);
  const me = await phone.client.getMe();
  assert.equal(me.id, old.user.id);
  assert.equal(phone.counts.login, 2);
  assert.deepEqual(phone.log, ['POST /v1/login', 'GET /v1/me', 'POST /v1/login', 'GET /v1/me']);
  const renewed = phone.client.getSession();
  assert.notEqual(renewed.token, old.token);
  assert.equal(await statusWith(main, renewed.token), 200);
});

test('a token expired on the server (idle) is replaced transparently', async () => {
  const phone = phoneFor(short);
  const old = await phone.client.login();
  await idleOut();
  assert.equal(await statusWith(short, old.token), 401);
  const me = await phone.client.getMe();
  assert.equal(me.id, old.user.id);
  assert.equal(phone.counts.login, 2);
});

test('20 concurrent requests with an expired token cause exactly one login', async () => {
  const phone = phoneFor(short);
  const old = await phone.client.login();
  await idleOut();
  await postJson(short.url + '/sim/stats/reset', {});
  const users = await Promise.all(Array.from({ length: 20 }, () => phone.client.getMe()));
  assert.ok(users.every((u) => u.id === old.user.id));
  assert.equal(await codeExchanges(short), 1);
  assert.equal(phone.counts.login, 2); // the first login and the one re-login
  assert.equal(phone.log.filter((line) => line === 'POST /v1/login').length, 2);
  assert.equal(phone.counts.refused, 0, 'an 11th concurrent wx.request was attempted');
  assert.equal(phone.active.maxRequest, 10);
});

test('a 401 on the retry too is surfaced, not looped on', async () => {
  const rewrite = (call) =>
    call.url.endsWith('/v1/me')
      ? Object.assign(call, { header: { Authorization: 'Bearer broken' } })
      : call;
  const phone = phoneFor(main, { rewrite: rewrite });
  await assert.rejects(phone.client.getMe(), (err) => {
    assert.ok(err instanceof WxAuthError);
    assert.equal(err.code, 'invalid_token');
    assert.equal(err.status, 401);
    return true;
  });
  assert.deepEqual(phone.log, ['POST /v1/login', 'GET /v1/me', 'POST /v1/login', 'GET /v1/me']);
});

test('the token goes to baseUrl and authOrigins only', async () => {
  const seen = [];
  const rewrite = (call) => {
    seen.push([new URL(call.url).origin, 'Authorization' in (call.header || {})]);
    return call;
  };
  const phone = phoneFor(main, { rewrite: rewrite });
  await phone.client.request({ url: short.url + '/healthz' });
  await phone.client.request({ url: '/healthz' });
  const trusting = createClient({ baseUrl: main.url, wx: phone.wx, authOrigins: [short.url] });
  await trusting.request({ url: short.url + '/healthz' });
  await phone.client.request({ url: '/healthz', auth: false });
  assert.deepEqual(seen, [
    [short.url, false],
    [main.url, false], // the login itself
    [main.url, true],
    [short.url, true],
    [main.url, false],
  ]);
});

test('server errors carry their code, message, status and request id', async () => {
  const phone = phoneFor(main);
  await assert.rejects(phone.client.updateProfile({ gender: 7 }), (err) => {
    assert.ok(err instanceof WxAuthError);
    assert.equal(err.code, 'invalid_request');
    assert.equal(err.status, 422);
    assert.match(err.requestId, /^[0-9a-f]{16}$/);
    assert.ok(err.message.length > 0);
    return true;
  });
});

test('a login WeChat refuses is surfaced with its errcode, and nothing is stored', async () => {
  const phone = phoneFor(main);
  await postJson(main.url + '/sim/faults', {
    path: '/sns/jscode2session',
    rate: 1,
    errcode: 40226,
  });
  try {
    await assert.rejects(phone.client.login(), (err) => {
      assert.ok(err instanceof WxAuthError);
      assert.equal(err.code, 'login_blocked');
      assert.equal(err.status, 403);
      assert.equal(err.wechatErrcode, 40226);
      return true;
    });
  } finally {
    await fetch(main.url + '/sim/faults', { method: 'DELETE' });
  }
  assert.equal(phone.storage.size, 0);
  assert.equal(phone.client.getSession(), null);
});

test('an unreachable server gives a NetworkError, not a server error', async () => {
  const closed = 'http://127.0.0.1:' + (await freePort());
  const fake = createFakeWx({ simulator: main.url, appid: main.appid, user: newUser() });
  const client = createClient({ baseUrl: closed, wx: fake.wx });
  await assert.rejects(client.getMe(), (err) => {
    assert.ok(err instanceof NetworkError);
    assert.ok(!(err instanceof WxAuthError));
    assert.equal(err.code, 'network_error');
    return true;
  });
});

test('logout revokes the token on the server and forgets it here', async () => {
  const phone = phoneFor(main);
  const session = await phone.client.login();
  await phone.client.logout();
  assert.equal(phone.storage.size, 0);
  assert.equal(phone.client.getSession(), null);
  assert.equal(await statusWith(main, session.token), 401);
});

test('checkSession logs in again only when WeChat let the session_key expire', async () => {
  const phone = phoneFor(main);
  const first = await phone.client.login();
  assert.equal((await phone.client.checkSession()).token, first.token);
  assert.equal(phone.counts.login, 1);
  await postJson(main.url + '/sim/expire-session', { appid: main.appid, user: phone.user });
  const renewed = await phone.client.checkSession();
  assert.notEqual(renewed.token, first.token);
  assert.equal(phone.counts.login, 2);
  assert.equal(phone.counts.checkSession, 2);
});

/** Skip unless the server has `path` (it answers 404 without it, 401 without a token). */
// A real 32x32 PNG (the server refuses images under 16 pixels a side): one grey pixel row
// repeated, deflated with node:zlib, with the CRCs PNG asks for.
function crc32(buf) {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function makePng(size) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(size * 3, 0x80)]);
  const pixels = zlib.deflateSync(Buffer.concat(Array(size).fill(row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', pixels),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const PNG = makePng(32);

test('uploadAvatar sends the chooseAvatar temp file with the token', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxauth-avatar-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'tmp_avatar.png');
  fs.writeFileSync(file, PNG);
  const phone = phoneFor(main);
  const user = await phone.client.uploadAvatar({ detail: { avatarUrl: file } });
  assert.equal(typeof user.avatar_url, 'string');
  assert.ok(user.avatar_url.length > 0);
  assert.equal(phone.counts.uploadFile, 1);
  assert.equal((await phone.client.getMe()).avatar_url, user.avatar_url);
  // Stored in the server's temporary directory, not in the repository.
  const stored = fs.readdirSync(path.join(main.dir, 'avatars'), { recursive: true });
  const name = user.avatar_url.split('/').pop();
  assert.ok(
    stored.some((file) => path.basename(file) === name),
    stored.join(', '),
  );
});

test('bindPhone sends the getPhoneNumber code and the user then has a phone', async () => {
  const phone = phoneFor(main);
  await phone.client.login();
  const { code } = await postJson(main.url + '/sim/phone-code', {
    appid: main.appid,
    user: phone.user,
  });
  const number = await phone.client.bindPhone({
    detail: { code: code, errMsg: 'getPhoneNumber:ok' },
  });
  assert.equal(typeof number.phone_number, 'string');
  assert.equal(typeof number.pure_phone_number, 'string');
  assert.equal((await phone.client.getMe()).has_phone, true);
});
