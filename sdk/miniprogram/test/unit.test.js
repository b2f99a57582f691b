'use strict';
/** The parts that need no server: the queue, error shapes, argument checks. */

const assert = require('node:assert/strict');
const { test } = require('node:test');

const { createClient, WxApiError, WxAuthError } = require('..');
const { createLimiter } = require('../lib/queue');
const { serverError } = require('../lib/errors');

/** A platform object with storage only: anything else it is asked for fails the test. */
function storageOnly() {
  const store = new Map();
  return {
    getStorageSync: (key) => (store.has(key) ? store.get(key) : ''),
    setStorageSync: (key, value) => store.set(key, value),
    removeStorageSync: (key) => store.delete(key),
  };
}

test('the limiter runs at most N tasks at once, in arrival order', async () => {
  const run = createLimiter(3);
  let active = 0;
  let peak = 0;
  const started = [];
  const task = (i) => async () => {
    started.push(i);
    active += 1;
    peak = Math.max(peak, active);
    await new Promise((resolve) => setImmediate(resolve));
    active -= 1;
    if (i === 4) throw new Error('task 4 fails');
    return i;
  };
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => run(task(i))));
  assert.equal(peak, 3);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(results[4].status, 'rejected');
  assert.deepEqual(
    results.filter((r) => r.status === 'fulfilled').map((r) => r.value),
    [0, 1, 2, 3, 5, 6, 7, 8, 9],
  );
});

test('a non-JSON error page still becomes a WxAuthError with the status', () => {
  const err = serverError({
    statusCode: 502,
    data: '<html>Bad Gateway</html>',
    header: { 'X-Request-ID': 'abc' },
  });
  assert.ok(err instanceof WxAuthError);
  assert.equal(err.code, 'http_502');
  assert.equal(err.status, 502);
  assert.equal(err.requestId, 'abc');
});

test("wxauth's error body is read field by field, Retry-After included", () => {
  const body = {
    error: 'wechat_unavailable',
    message: 'busy',
    request_id: 'r1',
    wechat_errcode: -1,
  };
  const err = serverError({
    statusCode: 503,
    data: JSON.stringify(body),
    header: { 'retry-after': '2' },
  });
  assert.deepEqual(
    [err.code, err.message, err.status, err.requestId, err.wechatErrcode, err.retryAfter],
    ['wechat_unavailable', 'busy', 503, 'r1', -1, 2],
  );
});

test('a declined phone-number button is a WxApiError user_denied, sent nowhere', async () => {
  const client = createClient({ baseUrl: 'https://auth.example.com', wx: storageOnly() });
  const event = { detail: { errMsg: 'getPhoneNumber:fail user deny' } };
  await assert.rejects(client.bindPhone(event), (err) => {
    assert.ok(err instanceof WxApiError);
    assert.equal(err.code, 'user_denied');
    return true;
  });
});

test('bad arguments are TypeErrors, not network calls', async () => {
  assert.throws(() => createClient({ wx: storageOnly() }), TypeError);
  assert.throws(() => createClient({ baseUrl: 'auth.example.com', wx: storageOnly() }), TypeError);
  assert.throws(() => createClient({ baseUrl: 'https://auth.example.com' }), /pass createClient/);
  const client = createClient({ baseUrl: 'https://auth.example.com', wx: storageOnly() });
  await assert.rejects(client.uploadAvatar(''), TypeError);
  await assert.rejects(client.request({}), TypeError);
});

test('a stored session of another shape is ignored', () => {
  const wx = storageOnly();
  wx.setStorageSync('wxauth_session', 'not a session');
  const client = createClient({ baseUrl: 'https://auth.example.com', wx: wx });
  assert.equal(client.getSession(), null);
});
