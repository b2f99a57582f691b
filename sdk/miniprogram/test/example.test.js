'use strict';
/**
 * The sample mini program (examples/miniprogram) as WeChat DevTools will read it: valid JSON,
 * well-formed WXML, every page complete, every require() resolving inside the project, and
 * its copy of the SDK identical to lib/.
 */

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, test } = require('node:test');

const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'examples', 'miniprogram');
const LIB = path.resolve(__dirname, '..', 'lib');
const SDK_COPY = path.join(EXAMPLE, 'lib', 'wxauth');

function filesUnder(dir, ext) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full, ext);
    return entry.name.endsWith(ext) ? [full] : [];
  });
}

const rel = (file) => path.relative(EXAMPLE, file);

const TAG = /<(\/?)([A-Za-z][\w-]*)((?:\s+[^\s=>/"'<]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*)\s*(\/?)>/g;

/** What keeps a WXML source from being well-formed: unbalanced tags, stray "<", bad {{ }}. */
function wxmlProblems(source) {
  const text = source.replace(/<!--[\s\S]*?-->/g, '');
  const problems = [];
  const open = [];
  let last = 0;
  for (const match of text.matchAll(TAG)) {
    if (text.slice(last, match.index).includes('<'))
      problems.push('stray "<" before offset ' + match.index);
    last = match.index + match[0].length;
    const [, closing, name, , selfClosing] = match;
    if (closing) {
      const expected = open.pop();
      if (expected !== name)
        problems.push('</' + name + '> closes <' + (expected || 'nothing') + '>');
    } else if (!selfClosing) {
      open.push(name);
    }
  }
  if (text.slice(last).includes('<')) problems.push('stray "<" at the end');
  open.forEach((name) => problems.push('<' + name + '> is never closed'));
  if (text.split('{{').length !== text.split('}}').length) problems.push('unbalanced {{ }}');
  return problems;
}

test('the WXML checker itself catches broken markup', () => {
  assert.deepEqual(wxmlProblems('<view><text>hi</text></view><image src="{{a > b}}" />'), []);
  assert.notDeepEqual(wxmlProblems('<view><text>hi</view>'), []);
  assert.notDeepEqual(wxmlProblems('<view>'), []);
  assert.notDeepEqual(wxmlProblems('<view>{{user.id</view>'), []);
  assert.notDeepEqual(wxmlProblems('<view <text></view>'), []);
});

test('every JSON file parses', () => {
  const files = filesUnder(EXAMPLE, '.json');
  assert.ok(files.length >= 4);
  for (const file of files) {
    assert.doesNotThrow(() => JSON.parse(fs.readFileSync(file, 'utf8')), rel(file));
  }
});

test('every page in app.json has its .js, .json and .wxml', () => {
  const app = JSON.parse(fs.readFileSync(path.join(EXAMPLE, 'app.json'), 'utf8'));
  assert.ok(app.pages.length > 0);
  for (const page of app.pages) {
    for (const ext of ['.js', '.json', '.wxml']) {
      assert.ok(fs.existsSync(path.join(EXAMPLE, page + ext)), page + ext + ' is missing');
    }
  }
  assert.ok(fs.existsSync(path.join(EXAMPLE, app.sitemapLocation)));
});

test('every WXML file is well-formed', () => {
  const files = filesUnder(EXAMPLE, '.wxml');
  assert.ok(files.length > 0);
  for (const file of files) {
    assert.deepEqual(wxmlProblems(fs.readFileSync(file, 'utf8')), [], rel(file));
  }
});

test('the page uses the avatar/nickname fill-in and the phone button', () => {
  const wxml = fs.readFileSync(path.join(EXAMPLE, 'pages', 'index', 'index.wxml'), 'utf8');
  assert.match(wxml, /open-type="chooseAvatar"/);
  assert.match(wxml, /type="nickname"/);
  assert.match(wxml, /open-type="getPhoneNumber"/);
});

test('every require() is a relative path that resolves inside the project', () => {
  const found = [];
  for (const file of filesUnder(EXAMPLE, '.js')) {
    // Comments may show usage such as require('wxauth-miniprogram'): only code counts.
    const source = fs
      .readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const match of source.matchAll(/require\(\s*(['"])([^'"]+)\1\s*\)/g)) {
      const target = match[2];
      assert.match(target, /^\.\.?\//, rel(file) + ': require("' + target + '") is not relative');
      const resolved = path.resolve(path.dirname(file), target);
      const candidates = [resolved, resolved + '.js', path.join(resolved, 'index.js')];
      assert.ok(
        candidates.some((c) => fs.existsSync(c) && fs.statSync(c).isFile()),
        rel(file) + ': ' + target,
      );
      assert.ok(
        !path.relative(EXAMPLE, resolved).startsWith('..'),
        rel(file) + ': ' + target + ' leaves the project',
      );
      found.push(target);
    }
  }
  assert.ok(found.includes('./lib/wxauth/index.js'), 'app.js requires the SDK');
});

test("the example's copy of the SDK is identical to lib/ (node scripts/sync-example.js)", () => {
  const names = (dir) =>
    fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.js'))
      .sort();
  assert.deepEqual(names(SDK_COPY), names(LIB));
  for (const name of names(LIB)) {
    const same =
      fs.readFileSync(path.join(LIB, name), 'utf8') ===
      fs.readFileSync(path.join(SDK_COPY, name), 'utf8');
    assert.ok(
      same,
      'examples/miniprogram/lib/wxauth/' +
        name +
        ' differs: run node sdk/miniprogram/scripts/sync-example.js',
    );
  }
});

test('the account pages are registered and linked from the index page', () => {
  const app = JSON.parse(fs.readFileSync(path.join(EXAMPLE, 'app.json'), 'utf8'));
  const index = fs.readFileSync(path.join(EXAMPLE, 'pages', 'index', 'index.wxml'), 'utf8');
  for (const page of ['pages/devices/devices', 'pages/delete-account/delete-account']) {
    assert.ok(app.pages.includes(page), page + ' is not in app.json');
    assert.ok(index.includes('url="/' + page + '"'), 'the index page does not link ' + page);
  }
  const deletion = fs.readFileSync(
    path.join(EXAMPLE, 'pages', 'delete-account', 'delete-account.js'),
    'utf8',
  );
  assert.match(deletion, /wx\.showModal\(/);
  assert.match(deletion, /\.deleteAccount\(\)/);
});

test('the account pages call only what the SDK offers', () => {
  const { createClient } = require(path.join(SDK_COPY, 'index.js'));
  const methods = Object.keys(createClient({ baseUrl: 'https://auth.example.com', wx: {} }));
  for (const page of ['index', 'devices', 'delete-account']) {
    const source = fs.readFileSync(path.join(EXAMPLE, 'pages', page, page + '.js'), 'utf8');
    for (const match of source.matchAll(/app\.auth\s*\.(\w+)\(/g)) {
      assert.ok(methods.includes(match[1]), page + ': app.auth.' + match[1] + ' is not in the SDK');
    }
  }
});

describe('utils/account.js (what the account pages show)', () => {
  const account = require(path.join(EXAMPLE, 'utils', 'account.js'));
  const NOW = Date.parse('2024-05-01T12:00:00Z');
  const ago = (ms) => new Date(NOW - ms).toISOString();
  const MIN = 60 * 1000;

  test('timeAgo: minutes, hours, days, then the date', () => {
    assert.equal(account.timeAgo(ago(10 * 1000), NOW), 'just now');
    assert.equal(account.timeAgo(ago(5 * MIN), NOW), '5 min ago');
    assert.equal(account.timeAgo(ago(3 * 60 * MIN), NOW), '3 h ago');
    assert.equal(account.timeAgo(ago(24 * 60 * MIN), NOW), '1 day ago');
    assert.equal(account.timeAgo(ago(3 * 24 * 60 * MIN), NOW), '3 days ago');
    const old = new Date(2024, 0, 15, 9, 5).toISOString(); // local time, as shown
    assert.equal(account.timeAgo(old, NOW), '2024-01-15 09:05');
    assert.equal(account.timeAgo('not a time', NOW), '');
  });

  test('deviceName and systemLine say what the phone said, without repeats', () => {
    assert.equal(account.deviceName({ brand: 'Apple', model: 'iPhone 15' }), 'Apple iPhone 15');
    assert.equal(
      account.deviceName({ brand: 'HUAWEI', model: 'HUAWEI Mate 60' }),
      'HUAWEI Mate 60',
    );
    assert.equal(account.deviceName({ brand: null, model: null, platform: 'ios' }), 'ios');
    assert.equal(account.deviceName({}), 'Unknown device');
    assert.equal(account.deviceName(undefined), 'Unknown device');
    assert.equal(
      account.systemLine({ system: 'iOS 17.2', wechat_version: '8.0.47' }),
      'iOS 17.2 · WeChat 8.0.47',
    );
    assert.equal(account.systemLine({ system: null, wechat_version: null }), '');
  });

  test('sessionRows: one row per session, this device first and marked', () => {
    const device = (brand, model) => ({
      brand: brand,
      model: model,
      platform: null,
      system: 'Android 12',
      wechat_version: null,
    });
    const sessions = [
      {
        id: 'aaaa',
        current: false,
        created_at: ago(48 * 60 * MIN),
        last_seen_at: ago(5 * MIN),
        expires_at: ago(-60 * MIN),
        ip: null,
        user_agent: null,
        device: device('Xiaomi', '14'),
      },
      {
        id: 'bbbb',
        current: true,
        created_at: ago(60 * MIN),
        last_seen_at: ago(0),
        expires_at: ago(-60 * MIN),
        ip: null,
        user_agent: null,
        device: device('HUAWEI', 'Mate 60'),
      },
    ];
    const rows = account.sessionRows(sessions, NOW);
    assert.deepEqual(
      rows.map((r) => [r.id, r.current, r.name, r.system]),
      [
        ['bbbb', true, 'HUAWEI Mate 60', 'Android 12'],
        ['aaaa', false, 'Xiaomi 14', 'Android 12'],
      ],
    );
    assert.equal(rows[0].lastUsed, 'in use now');
    assert.equal(rows[1].lastUsed, 'last used 5 min ago');
    assert.match(rows[1].signedIn, /^signed in \d{4}-\d\d-\d\d \d\d:\d\d$/);
    assert.deepEqual(account.sessionRows([], NOW), []);
  });

  test('describeError: signed elsewhere, disabled with its reason, network, declined', () => {
    const { WxAuthError, NetworkError, WxApiError } = require(path.join(SDK_COPY, 'index.js'));
    const replaced = new WxAuthError({ code: 'session_replaced', status: 401, message: 'x' });
    assert.match(account.describeError(replaced), /signed in on another device/);
    assert.ok(account.signsOut(replaced));
    const until = new Date(2030, 5, 1, 8, 0).toISOString();
    const banned = new WxAuthError({
      code: 'account_disabled',
      status: 403,
      message: 'x',
      reason: 'Spam',
      until: until,
    });
    assert.equal(
      account.describeError(banned),
      'This account is disabled: Spam (until 2030-06-01 08:00)',
    );
    assert.ok(account.signsOut(banned));
    const forever = new WxAuthError({ code: 'account_disabled', status: 403, message: 'x' });
    assert.equal(account.describeError(forever), 'This account is disabled.');
    assert.match(
      account.describeError(new NetworkError('request:fail')),
      /Cannot reach the server/,
    );
    assert.equal(
      account.describeError(new WxApiError('getPhoneNumber', 'fail user deny', 'user_denied')),
      '',
    );
    const other = new WxAuthError({ code: 'invalid_request', status: 422, message: 'Bad field.' });
    assert.equal(account.describeError(other), 'Bad field.');
    assert.ok(!account.signsOut(other));
  });

  test('deletionNotice and signedOutUrl: erased now, or when, shown on the index page', () => {
    assert.equal(
      account.deletionNotice({ deleted: true }),
      'Your account and its data were erased.',
    );
    const due = new Date(2024, 4, 15, 12, 0).toISOString();
    assert.equal(
      account.deletionNotice({ deleted: false, due_at: due }),
      'Your account will be erased on 2024-05-15 12:00. Signing in before then cancels the deletion.',
    );
    const url = account.signedOutUrl('Erased: 100% & gone?');
    assert.ok(url.startsWith('/pages/index/index?notice='));
    assert.equal(decodeURIComponent(url.split('notice=')[1]), 'Erased: 100% & gone?');
  });
});
