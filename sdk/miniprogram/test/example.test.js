'use strict';
/**
 * The sample mini program (examples/miniprogram) as WeChat DevTools will read it: valid JSON,
 * well-formed WXML, every page complete, every require() resolving inside the project, and
 * its copy of the SDK identical to lib/.
 */

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

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
