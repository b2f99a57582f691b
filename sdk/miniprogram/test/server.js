'use strict';
/**
 * Starts the real wxauth server with its embedded simulator (`wxauth dev`) as a child
 * process on a free port, and stops it again. It runs in a temporary directory (its working
 * directory, SQLite database and uploaded avatars), removed when it stops, so a test run
 * leaves nothing in the repository.
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const APPID = 'wx0000000000000001';
const SECRET = 'sdk-test-secret';
const START_TIMEOUT_MS = 60000;

function wxauthBin() {
  // Absolute, since the server's working directory is its temporary one.
  const bin = path.resolve(process.env.WXAUTH_BIN || path.join(REPO, '.venv', 'bin', 'wxauth'));
  if (!fs.existsSync(bin)) {
    throw new Error('no wxauth at ' + bin + ': run scripts/bootstrap first (or set WXAUTH_BIN)');
  }
  return bin;
}

function freePort() {
  return new Promise(function find(resolve, reject) {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', function listening() {
      const port = probe.address().port;
      probe.close(function closed() {
        resolve(port);
      });
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthy(url) {
  try {
    return (await fetch(url + '/healthz')).ok;
  } catch (_) {
    return false;
  }
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise(function stop(resolve) {
    const killer = setTimeout(function hard() {
      child.kill('SIGKILL');
    }, 5000);
    child.once('exit', function exited() {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function launch(env, dir) {
  const port = await freePort();
  const url = 'http://127.0.0.1:' + port;
  const args = ['dev', '--port', String(port), '--db', path.join(dir, 'x.db')];
  args.push('--app', APPID + ':' + SECRET, '--log-level', 'warning');
  const child = spawn(wxauthBin(), args, {
    cwd: dir,
    env: Object.assign({}, process.env, { WXAUTH_AVATAR_DIR: path.join(dir, 'avatars') }, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk) => (output = (output + chunk).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await healthy(url)) {
      // Even if the test process dies without running its after() hooks.
      process.once('exit', () => {
        child.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      });
      return { child: child, url: url };
    }
    await sleep(100);
  }
  await stopChild(child);
  return { child: null, output: output };
}

/**
 * @param {object} [env] extra environment, e.g. { WXAUTH_SESSION_IDLE_TTL: '1' }
 * @returns {Promise<{url: string, appid: string, dir: string, stop: () => Promise<void>}>}
 *   `dir`: the server's temporary directory (its database and `avatars/`), gone after stop()
 */
async function startServer(env) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxauth-sdk-'));
  let output = '';
  // A free port can be taken by someone else before the server binds it: try a few.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const started = await launch(env || {}, dir);
    if (started.child) {
      return {
        url: started.url,
        appid: APPID,
        dir: dir,
        stop: async function stop() {
          await stopChild(started.child);
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    output = started.output;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error('wxauth dev did not become healthy:\n' + output);
}

module.exports = { startServer, freePort, sleep };
