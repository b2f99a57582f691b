'use strict';
/**
 * Sessions as devices, logout scopes, the session cap and closing the account, against the
 * real server (`wxauth dev`): one with no cap, one with WXAUTH_SESSION_CAP=1.
 */

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { after, before, test } = require('node:test');

const { createClient, WxAuthError } = require('..');
const { createFakeWx } = require('./fake-wx');
const { startServer } = require('./server');

let main;
let single; // one device per user

before(async () => {
  [main, single] = await Promise.all([startServer(), startServer({ WXAUTH_SESSION_CAP: '1' })]);
});

after(async () => {
  await Promise.all([main && main.stop(), single && single.stop()]);
});

function newUser() {
  return 'sdk-' + crypto.randomBytes(6).toString('hex');
}

/** A phone of `user` (the wx stand-in, saying what device it is) and a client on it. */
function phoneOf(server, user, device) {
  const fake = createFakeWx({ simulator: server.url, appid: server.appid, user: user });
  const wx = Object.assign({}, fake.wx, {
    getDeviceInfo: () => Object.assign({ benchmarkLevel: 30, memorySize: 8192 }, device),
  });
  const client = createClient({ baseUrl: server.url, appid: server.appid, wx: wx });
  return Object.assign(fake, { client: client });
}

async function statusWith(server, token) {
  return (await fetch(server.url + '/v1/me', { headers: { authorization: 'Bearer ' + token } }))
    .status;
}

const IPHONE = { brand: 'Apple', model: 'iPhone 15', platform: 'ios', system: 'iOS 17.2' };
const ANDROID = { brand: 'HUAWEI', model: 'Mate 60', platform: 'android', system: 'Android 12' };

test('two devices list each other, and one ends the other', async () => {
  const user = newUser();
  const phone = phoneOf(main, user, Object.assign({ version: '8.0.47' }, IPHONE));
  const tablet = phoneOf(main, user, ANDROID);
  await phone.client.login();
  const tabletSession = await tablet.client.login();
  const seen = await phone.client.listSessions();
  assert.equal(seen.length, 2);
  const mine = seen.find((s) => s.current);
  const other = seen.find((s) => !s.current);
  assert.deepEqual(mine.device, {
    brand: 'Apple',
    model: 'iPhone 15',
    platform: 'ios',
    system: 'iOS 17.2',
    wechat_version: '8.0.47',
  });
  assert.equal(other.device.brand, 'HUAWEI');
  assert.deepEqual(
    (await tablet.client.listSessions()).map((s) => s.id).sort(),
    seen.map((s) => s.id).sort(),
  );
  await phone.client.revokeSession(other.id);
  assert.equal(await statusWith(main, tabletSession.token), 401);
  await assert.rejects(phone.client.revokeSession(other.id), (err) => {
    assert.ok(err instanceof WxAuthError);
    assert.equal(err.code, 'not_found');
    return true;
  });
});

test('logout({scope: "others"}) keeps this device; "all" ends every one', async () => {
  const user = newUser();
  const a = phoneOf(main, user, IPHONE);
  const b = phoneOf(main, user, ANDROID);
  const first = await a.client.login();
  const second = await b.client.login();
  await a.client.logout({ scope: 'others' });
  assert.equal(await statusWith(main, first.token), 200);
  assert.equal(await statusWith(main, second.token), 401);
  assert.equal(a.client.getSession().token, first.token);
  const third = await b.client.login({ force: true });
  await b.client.logout({ scope: 'all' });
  assert.equal(await statusWith(main, first.token), 401);
  assert.equal(await statusWith(main, third.token), 401);
  assert.equal(b.client.getSession(), null);
  await assert.rejects(a.client.logout({ scope: 'some' }), TypeError);
});

test('session_replaced surfaces as its own error and does not log in again by itself', async () => {
  const user = newUser();
  const a = phoneOf(single, user, IPHONE);
  const b = phoneOf(single, user, ANDROID);
  await a.client.login();
  await b.client.login();
  const logins = a.counts.login;
  await assert.rejects(a.client.getMe(), (err) => {
    assert.ok(err instanceof WxAuthError);
    assert.equal(err.code, 'session_replaced');
    assert.equal(err.status, 401);
    return true;
  });
  // No silent re-login (which would in turn replace the other device, and so on).
  await assert.rejects(a.client.getMe(), (err) => err.code === 'session_replaced');
  assert.equal(a.counts.login, logins);
  assert.equal(a.client.getSession(), null);
  assert.ok(await b.client.getMe());
  // The user asks to log in here: now the other device is replaced.
  await a.client.login({ force: true });
  assert.ok(await a.client.getMe());
  await assert.rejects(b.client.getMe(), (err) => err.code === 'session_replaced');
});

test('deleteAccount ends every session; exportData once a minute', async () => {
  const user = newUser();
  const phone = phoneOf(main, user, IPHONE);
  const session = await phone.client.login();
  await phone.client.updateProfile({ nickName: '小明' });
  const data = await phone.client.exportData();
  assert.equal(data.user.nickname, '小明');
  assert.equal(data.sessions.length, 1);
  assert.equal(JSON.stringify(data).indexOf(session.token), -1);
  await assert.rejects(phone.client.exportData(), (err) => err.code === 'rate_limited');
  const deletion = await phone.client.deleteAccount();
  assert.equal(deletion.deleted, true);
  assert.equal(phone.client.getSession(), null);
  assert.equal(await statusWith(main, session.token), 401);
  const again = await phone.client.login();
  assert.equal(again.newUser, true);
  assert.notEqual(again.user.id, session.user.id);
  assert.equal(again.user.nickname, null);
});

test('a refused device description does not stop the login', async () => {
  const phone = phoneOf(main, newUser(), { brand: 5, model: 'x'.repeat(300), system: '\u202e' });
  const session = await phone.client.login();
  assert.equal(typeof session.token, 'string');
});

test('account_disabled carries the reason and stops logins until asked', () => {
  const error = new WxAuthError({
    code: 'account_disabled',
    message: 'This account is disabled: spam',
    status: 403,
    reason: 'spam',
    until: '2030-01-01T00:00:00+00:00',
  });
  assert.equal(error.reason, 'spam');
  assert.equal(error.until, '2030-01-01T00:00:00+00:00');
});
