'use strict';
/**
 * createClient: the phone side of wxauth's login flow, done once.
 *
 *   token stored and not expired? ── yes → use it
 *   otherwise wx.login → POST /v1/login → store {token, expiresAt, user}
 *   any call: Authorization: Bearer <token>; on 401 invalid_token log in again once, retry once
 *   401 session_replaced (a newer login elsewhere beyond the server's cap) or 403
 *   account_disabled: the session is dropped and no login happens by itself until the app
 *   calls login({ force: true }) (say, when the user taps "log in"), so that two devices
 *   never take the one allowed session from each other in a loop
 *
 * Concurrent callers share one login (single-flight); every wx.request goes through a
 * queue of 10, WeChat's limit.
 */

const { WxAuthError, WxApiError, serverError, parseBody } = require('./errors');
const { createLimiter } = require('./queue');
const adapter = require('./adapter');

const DEFAULT_STORAGE_KEY = 'wxauth_session';
const WX_MAX_CONCURRENT = 10; // per kind: wx.request and wx.uploadFile each have their own
const MAX_EARLY_MS = 60 * 1000; // stop using a token a little before the server would
const ACCESS_EARLY_MS = 30 * 1000; // renew an access JWT this long (at most) before it expires

function isOk(res) {
  return res.statusCode >= 200 && res.statusCode < 300;
}

function isInvalidToken(res) {
  const body = res.statusCode === 401 ? parseBody(res.data) : null;
  return Boolean(body && body.error === 'invalid_token');
}

/** Answers after which logging in again by itself would be wrong (or loop between devices). */
const HALTING = ['session_replaced', 'account_disabled'];

function isHalting(res) {
  if (res.statusCode !== 401 && res.statusCode !== 403) return false;
  const body = parseBody(res.data);
  return Boolean(body && HALTING.indexOf(body.error) !== -1);
}

// The server's bounds on each device field, in characters.
const DEVICE_LIMITS = { brand: 32, model: 64, platform: 16, system: 64, version: 32 };

function printable(char) {
  const code = char.codePointAt(0);
  return code >= 0x20 && code !== 0x7f;
}

/** What the phone says about itself (wx.getDeviceInfo, else getSystemInfoSync), bounded. */
function deviceOf(api) {
  let info = null;
  try {
    if (typeof api.getDeviceInfo === 'function') info = api.getDeviceInfo();
    else if (typeof api.getSystemInfoSync === 'function') info = api.getSystemInfoSync();
    if (info && typeof info.version !== 'string' && typeof api.getAppBaseInfo === 'function') {
      const base = api.getAppBaseInfo();
      if (base && typeof base.version === 'string') info = Object.assign({}, info, base);
    }
  } catch (_) {
    return null;
  }
  if (!info || typeof info !== 'object') return null;
  const device = {};
  Object.keys(DEVICE_LIMITS).forEach(function pick(name) {
    const value = info[name];
    // Control characters are refused by the server: drop them rather than the login.
    const text = typeof value === 'string' ? Array.from(value).filter(printable).join('') : '';
    if (text.trim()) device[name] = Array.from(text).slice(0, DEVICE_LIMITS[name]).join('');
  });
  return Object.keys(device).length ? device : null;
}

function jsonOrText(data) {
  if (typeof data !== 'string' || data === '') return data;
  const parsed = parseBody(data);
  return parsed === null ? data : parsed;
}

function originOf(url) {
  const match = /^(https?:\/\/[^/?#]+)/i.exec(url);
  return match ? match[1].toLowerCase() : null;
}

/** The session stored after a login, from POST /v1/login's answer. */
function sessionFrom(body, nowMs) {
  if (!body || typeof body.token !== 'string' || typeof body.expires_in !== 'number') {
    throw new WxAuthError({
      code: 'bad_response',
      message: 'The login answer has no token.',
      status: 200,
    });
  }
  const lifetimeMs = body.expires_in * 1000;
  const early = Math.min(MAX_EARLY_MS, lifetimeMs / 10);
  return { token: body.token, expiresAt: nowMs + lifetimeMs - early, user: body.user || null };
}

/** What a phone-number button event (or its detail, or a bare code) becomes for the server. */
function phoneBody(input) {
  if (typeof input === 'string' && input) return { code: input };
  const detail = input && input.detail ? input.detail : input;
  if (detail && typeof detail.code === 'string' && detail.code) return { code: detail.code };
  if (detail && detail.encryptedData && detail.iv) {
    return { encryptedData: detail.encryptedData, iv: detail.iv };
  }
  const errMsg = (detail && detail.errMsg) || 'no code in the getPhoneNumber event';
  throw new WxApiError(
    'getPhoneNumber',
    errMsg,
    /deny|cancel/i.test(errMsg) ? 'user_denied' : undefined,
  );
}

function avatarPath(input) {
  const path = input && input.detail ? input.detail.avatarUrl : input;
  if (typeof path !== 'string' || !path) {
    throw new TypeError('wxauth: uploadAvatar needs a temporary file path or a chooseAvatar event');
  }
  return path;
}

/**
 * @param {object} options
 * @param {string} options.baseUrl wxauth's base URL, e.g. "https://auth.example.com"
 * @param {string} [options.appid] sent with each login; needed when the server serves several apps
 * @param {string} [options.storageKey] where the session is kept (default "wxauth_session")
 * @param {object} [options.wx] the API object: `wx` (default), uni-app's `uni`, Taro's `Taro`
 * @param {string[]} [options.authOrigins] other origins (your own backends) that get the token
 * @param {number} [options.timeout] milliseconds for each request (WeChat's default: 60000)
 * @param {() => number} [options.now] the clock, in milliseconds (default Date.now)
 */
function createClient(options) {
  const opts = options || {};
  if (typeof opts.baseUrl !== 'string' || !/^https?:\/\//i.test(opts.baseUrl)) {
    throw new TypeError('wxauth: createClient needs { baseUrl: "https://..." }');
  }
  const api = opts.wx || adapter.defaultApi();
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const now = opts.now || Date.now;
  const storage = adapter.createStorage(api, opts.storageKey || DEFAULT_STORAGE_KEY);
  const requests = createLimiter(WX_MAX_CONCURRENT);
  const uploads = createLimiter(WX_MAX_CONCURRENT);
  const authOrigins = [baseUrl].concat(opts.authOrigins || []).map(originOf);

  let session = storage.read();
  let inflight = null; // the one login under way, shared by every caller
  let epoch = 0; // bumped by logout, so a login that finishes after it is not kept
  let halted = null; // the session_replaced / account_disabled error that stopped logins
  let access = null; // the access JWT from POST /v1/token: { token, renewAt }
  let accessInflight = null; // the one POST /v1/token under way

  function usable(s) {
    return s !== null && now() < s.expiresAt;
  }

  function view(s, newUser) {
    return { token: s.token, expiresAt: s.expiresAt, user: s.user, newUser: Boolean(newUser) };
  }

  function forget() {
    session = null;
    access = null;
    storage.clear();
  }

  function resolveUrl(url) {
    if (/^https?:\/\//i.test(url)) return url;
    return baseUrl + (url.charAt(0) === '/' ? '' : '/') + url;
  }

  /** One wx.request through the queue; settles with the raw response, whatever its status. */
  function send(req, token) {
    const header = {};
    Object.keys(req.header || {}).forEach(function copy(name) {
      if (!(token && name.toLowerCase() === 'authorization')) header[name] = req.header[name];
    });
    if (token) header.Authorization = 'Bearer ' + token;
    const call = {
      url: resolveUrl(req.url),
      method: (req.method || 'GET').toUpperCase(),
      data: req.data,
      header: header,
      timeout: req.timeout || opts.timeout,
      dataType: 'json',
    };
    return requests(function run() {
      return adapter.transfer(api, 'request', call);
    });
  }

  async function exchangeCode() {
    const started = epoch;
    const got = await adapter.invoke(api, 'login');
    if (!got || !got.code) throw new WxApiError('login', (got && got.errMsg) || 'no code');
    const body = opts.appid ? { code: got.code, appid: opts.appid } : { code: got.code };
    const device = opts.device === false ? null : deviceOf(api);
    if (device) body.device = device;
    let res = await send({ url: '/v1/login', method: 'POST', data: body }, null);
    if (device && res.statusCode === 422) {
      // The server refused what the phone says about itself: log in without it (the code
      // was not used up by a refused request).
      delete body.device;
      res = await send({ url: '/v1/login', method: 'POST', data: body }, null);
    }
    if (!isOk(res)) {
      const error = serverError(res);
      if (error.code === 'account_disabled') halted = error;
      throw error;
    }
    halted = null;
    const fresh = sessionFrom(parseBody(res.data), now());
    if (started === epoch) {
      session = fresh;
      storage.write(fresh);
    }
    return view(fresh, parseBody(res.data).new_user);
  }

  function loginOnce() {
    if (!inflight) {
      inflight = exchangeCode().finally(function done() {
        inflight = null;
      });
    }
    return inflight;
  }

  /**
   * The session: the stored one while it is valid, else a new login (wx.login → POST /v1/login).
   * Any number of concurrent callers share one login. `{ force: true }` skips the stored token.
   */
  function login(loginOptions) {
    const force = Boolean(loginOptions && loginOptions.force);
    if (!force && usable(session)) return Promise.resolve(view(session, false));
    if (!force && halted) return Promise.reject(halted);
    return loginOnce();
  }

  /** After session_replaced / account_disabled: drop the session, log in only when asked. */
  function halt(res) {
    halted = serverError(res);
    forget();
    return halted;
  }

  /** After `staleToken` got 401 invalid_token: a session with another token, logging in at most once. */
  function relogin(staleToken) {
    if (inflight) return inflight;
    if (usable(session) && session.token !== staleToken)
      return Promise.resolve(view(session, false));
    forget();
    return loginOnce();
  }

  /** Run `attempt(token)`; on 401 invalid_token log in again and run it once more, never more. */
  async function withToken(attempt) {
    const held = await login();
    const res = await attempt(held.token);
    if (isHalting(res)) throw halt(res);
    if (!isInvalidToken(res)) return res;
    const fresh = await relogin(held.token);
    const again = await attempt(fresh.token);
    if (isHalting(again)) throw halt(again);
    return again;
  }

  /**
   * Like wx.request, as a promise. Relative URLs are under baseUrl. The token is attached to
   * baseUrl and `authOrigins` (unless `auth: false`). Resolves with {statusCode, data, header}
   * for a 2xx answer; rejects with WxAuthError (any other status) or NetworkError.
   */
  async function request(req) {
    if (!req || typeof req.url !== 'string') throw new TypeError('wxauth: request needs { url }');
    const url = resolveUrl(req.url);
    const routed = Object.assign({}, req, { url: url });
    const authed = req.auth !== false && authOrigins.indexOf(originOf(url)) !== -1;
    const res = authed
      ? await withToken(function attempt(token) {
          return send(routed, token);
        })
      : await send(routed, null);
    if (!isOk(res)) throw serverError(res);
    return { statusCode: res.statusCode, data: jsonOrText(res.data), header: res.header || {} };
  }

  function rememberUser(user) {
    if (session && user && typeof user === 'object' && session.user !== user) {
      session = Object.assign({}, session, { user: user });
      storage.write(session);
    }
    return user;
  }

  async function getMe() {
    return rememberUser((await request({ url: '/v1/me' })).data);
  }

  /** POST /v1/me/profile with WeChat's field names (nickName, avatarUrl, ...); resolves with the User. */
  async function updateProfile(fields) {
    const res = await request({ url: '/v1/me/profile', method: 'POST', data: fields || {} });
    return rememberUser(res.data);
  }

  /** Upload the chooseAvatar temp file (a path, or the event itself); resolves with the User. */
  async function uploadAvatar(pathOrEvent) {
    const filePath = avatarPath(pathOrEvent);
    const res = await withToken(function attempt(token) {
      return uploads(function run() {
        return adapter.transfer(api, 'uploadFile', {
          url: baseUrl + '/v1/me/avatar',
          filePath: filePath,
          name: 'file',
          header: { Authorization: 'Bearer ' + token },
          timeout: opts.timeout,
        });
      });
    });
    if (!isOk(res)) throw serverError(res);
    return rememberUser(parseBody(res.data));
  }

  /** The getPhoneNumber button's event (or its code): resolves with {phone_number, pure_phone_number, country_code}. */
  async function bindPhone(codeOrEvent) {
    const body = phoneBody(codeOrEvent);
    const res = await request({ url: '/v1/me/phone', method: 'POST', data: body });
    if (session && session.user) rememberUser(Object.assign({}, session.user, { has_phone: true }));
    return res.data;
  }

  /**
   * Make sure the server holds the session_key that the phone's next encryptedData will be
   * encrypted with: when wx.checkSession fails (WeChat let it expire), log in again now,
   * before the user taps a button that yields encryptedData. Resolves with the session.
   */
  async function checkSession() {
    try {
      await adapter.invoke(api, 'checkSession');
    } catch (_) {
      forget();
      return loginOnce();
    }
    return login();
  }

  /**
   * Revoke the token on the server and forget it here. Local state is cleared even if the
   * call fails. `{ scope: 'all' }` ends every session of the user, `'others'` every one but
   * this (which is then kept); the default `'current'` ends this one.
   */
  async function logout(logoutOptions) {
    const scope = (logoutOptions && logoutOptions.scope) || 'current';
    if (['current', 'all', 'others'].indexOf(scope) === -1) {
      throw new TypeError('wxauth: logout scope is "current", "all" or "others"');
    }
    if (scope === 'others') {
      await request({ url: '/v1/logout', method: 'POST', data: { scope: scope } });
      return;
    }
    const held = session;
    epoch += 1;
    forget();
    if (!held) return;
    const data = scope === 'current' ? undefined : { scope: scope };
    const res = await send({ url: '/v1/logout', method: 'POST', data: data }, held.token);
    if (!isOk(res) && res.statusCode !== 401 && res.statusCode !== 403) throw serverError(res);
  }

  /** The user's live sessions (their devices), most recently used first; `current` is this one. */
  async function listSessions() {
    return (await request({ url: '/v1/me/sessions' })).data.sessions;
  }

  /** End one of the user's sessions by its `id` (from listSessions); its token stops working at once. */
  async function revokeSession(id) {
    if (typeof id !== 'string' || !id) throw new TypeError('wxauth: revokeSession needs an id');
    await request({
      url: '/v1/me/sessions/' + encodeURIComponent(id) + '/revoke',
      method: 'POST',
    });
  }

  /**
   * Close the account (the user confirmed it): every session ends at once and the data is
   * erased now, or at `due_at` unless the user logs in before. The local session is dropped.
   */
  async function deleteAccount() {
    const res = await request({
      url: '/v1/me/delete',
      method: 'POST',
      data: { confirm: 'DELETE' },
    });
    epoch += 1;
    forget();
    return res.data;
  }

  /** Everything the server stores about the user, as JSON (at most once a minute). */
  async function exportData() {
    return (await request({ url: '/v1/me/export' })).data;
  }

  async function mintAccessToken() {
    const started = epoch;
    const res = await request({ url: '/v1/token', method: 'POST' });
    const body = res.data;
    if (!body || typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
      throw new WxAuthError({
        code: 'bad_response',
        message: 'The token answer has no access_token.',
        status: res.statusCode,
      });
    }
    const lifetimeMs = body.expires_in * 1000;
    const renewAt = now() + lifetimeMs - Math.min(ACCESS_EARLY_MS, lifetimeMs / 5);
    if (started === epoch) access = { token: body.access_token, renewAt: renewAt };
    return body.access_token;
  }

  /**
   * A short-lived signed access token (JWT) for the app's other backends, from POST
   * /v1/token: kept in memory and renewed shortly before it expires; concurrent callers
   * share one request. `{ force: true }` gets a new one.
   */
  function getAccessToken(tokenOptions) {
    const force = Boolean(tokenOptions && tokenOptions.force);
    if (!force && access && now() < access.renewAt) return Promise.resolve(access.token);
    if (!accessInflight) {
      accessInflight = mintAccessToken().finally(function done() {
        accessInflight = null;
      });
    }
    return accessInflight;
  }

  /** The stored session, without any network call: null when there is none or it expired. */
  function getSession() {
    return usable(session) ? view(session, false) : null;
  }

  return {
    login: login,
    request: request,
    getMe: getMe,
    updateProfile: updateProfile,
    uploadAvatar: uploadAvatar,
    bindPhone: bindPhone,
    checkSession: checkSession,
    logout: logout,
    getSession: getSession,
    listSessions: listSessions,
    revokeSession: revokeSession,
    deleteAccount: deleteAccount,
    exportData: exportData,
    getAccessToken: getAccessToken,
  };
}

module.exports = { createClient };
