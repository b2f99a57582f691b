'use strict';
/**
 * A `wx` stand-in for Node: wx.login and wx.checkSession ask the real simulator's phone side
 * (/sim/*), wx.request and wx.uploadFile make real HTTP calls (fetch, FormData), storage is an
 * in-memory map. Like WeChat it refuses an 11th concurrent wx.request, so the client's
 * queueing is really exercised. `counts` and `log` record what the client did.
 */

const fs = require('node:fs/promises');
const path = require('node:path');

const WX_MAX_CONCURRENT = 10;
const IMAGE_TYPES = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
};

async function postJson(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(url + ' answered ' + res.status + ': ' + (await res.text()));
  return res.json();
}

function headersObject(headers) {
  const out = {};
  headers.forEach(function copy(value, name) {
    out[name] = value;
  });
  return out;
}

function withQuery(url, data) {
  const query = new URLSearchParams(data).toString();
  return query ? url + (url.includes('?') ? '&' : '?') + query : url;
}

/** Like wx.request: JSON bodies for objects, the query string for GET data. */
function fetchArgs(o) {
  const method = (o.method || 'GET').toUpperCase();
  const headers = Object.assign({ 'content-type': 'application/json' }, o.header);
  const init = {
    method: method,
    headers: headers,
    signal: AbortSignal.timeout(o.timeout || 60000),
  };
  let url = o.url;
  if (o.data !== undefined && o.data !== null) {
    if (method === 'GET' || method === 'HEAD') url = withQuery(url, o.data);
    else init.body = typeof o.data === 'string' ? o.data : JSON.stringify(o.data);
  }
  return { url: url, init: init };
}

function parsed(text, dataType) {
  if (dataType !== 'json') return text;
  try {
    return JSON.parse(text);
  } catch (_) {
    return text;
  }
}

/**
 * @param {object} options
 * @param {string} options.simulator base URL serving /sim/*
 * @param {string} options.appid the simulated mini program
 * @param {string} options.user the simulated WeChat user
 * @param {Map} [options.storage] share one to play a relaunch of the same app
 * @param {(call: object) => object} [options.rewrite] alter a wx.request call before it goes out
 */
function createFakeWx(options) {
  const storage = options.storage || new Map();
  const phone = { appid: options.appid, user: options.user };
  const counts = { login: 0, checkSession: 0, request: 0, uploadFile: 0, refused: 0 };
  const active = { request: 0, uploadFile: 0, maxRequest: 0 };
  const log = []; // "METHOD /path" of every wx.request

  function settle(o, work, failPrefix) {
    work.then(
      function ok(res) {
        if (o.success) o.success(res);
      },
      function failed(err) {
        if (o.fail) o.fail({ errMsg: failPrefix + ':fail ' + (err && err.message) });
      },
    );
  }

  async function doRequest(o) {
    const call = options.rewrite ? options.rewrite(Object.assign({}, o)) : o;
    const args = fetchArgs(call);
    log.push(args.init.method + ' ' + new URL(args.url).pathname);
    const res = await fetch(args.url, args.init);
    const text = await res.text();
    return {
      statusCode: res.status,
      data: parsed(text, call.dataType || 'json'),
      header: headersObject(res.headers),
      errMsg: 'request:ok',
    };
  }

  async function doUpload(o) {
    const form = new FormData();
    Object.entries(o.formData || {}).forEach(function add(entry) {
      form.append(entry[0], String(entry[1]));
    });
    const bytes = await fs.readFile(o.filePath);
    const type = IMAGE_TYPES[path.extname(o.filePath).toLowerCase()] || 'application/octet-stream';
    form.append(o.name, new Blob([bytes], { type: type }), path.basename(o.filePath));
    const res = await fetch(o.url, { method: 'POST', headers: o.header || {}, body: form });
    return { statusCode: res.status, data: await res.text(), errMsg: 'uploadFile:ok' };
  }

  const wx = {
    login(o) {
      counts.login += 1;
      const work = postJson(options.simulator + '/sim/login', phone).then(function code(body) {
        return { code: body.code, errMsg: 'login:ok' };
      });
      settle(o, work, 'login');
    },
    checkSession(o) {
      counts.checkSession += 1;
      postJson(options.simulator + '/sim/check-session', phone).then(
        function answered(body) {
          const handler = body.valid ? o.success : o.fail;
          if (handler) handler({ errMsg: body.errMsg });
        },
        function failed(err) {
          if (o.fail) o.fail({ errMsg: 'checkSession:fail ' + err.message });
        },
      );
    },
    request(o) {
      counts.request += 1;
      if (active.request >= WX_MAX_CONCURRENT) {
        counts.refused += 1;
        settle(o, Promise.reject(new Error('exceed max task count')), 'request');
        return;
      }
      active.request += 1;
      active.maxRequest = Math.max(active.maxRequest, active.request);
      const work = doRequest(o).finally(function done() {
        active.request -= 1;
      });
      settle(o, work, 'request');
    },
    uploadFile(o) {
      counts.uploadFile += 1;
      settle(o, doUpload(o), 'uploadFile');
    },
    getStorageSync(key) {
      // WeChat answers "" for a missing key and hands out copies.
      return storage.has(key) ? JSON.parse(storage.get(key)) : '';
    },
    setStorageSync(key, value) {
      storage.set(key, JSON.stringify(value));
    },
    removeStorageSync(key) {
      storage.delete(key);
    },
  };
  return { wx: wx, user: options.user, storage: storage, counts: counts, active: active, log: log };
}

module.exports = { createFakeWx, postJson };
