'use strict';
/**
 * The errors the client rejects with. Three kinds, never mixed up:
 *
 *   WxAuthError   the server answered with an error: `.code` is its `error` field
 *                 ("invalid_token", "invalid_code", ...), `.status` the HTTP status
 *   NetworkError  no answer at all (offline, DNS, timeout, refused): code "network_error"
 *   WxApiError    a wx.* API on the phone failed or the user declined (wx.login, the
 *                 phone-number button): code "wx_api_error" or "user_denied"
 */

class WxAuthError extends Error {
  /**
   * @param {object} fields
   * @param {string} fields.code the server's `error` code
   * @param {string} fields.message the server's message
   * @param {number} fields.status the HTTP status
   * @param {string|null} [fields.requestId] the server's request id, for support tickets
   * @param {number|null} [fields.wechatErrcode] WeChat's errcode when WeChat caused it
   * @param {number|null} [fields.retryAfter] seconds, from a Retry-After header
   * @param {string|null} [fields.reason] account_disabled: the public reason
   * @param {string|null} [fields.until] account_disabled: when it ends (ISO 8601)
   */
  constructor(fields) {
    super(fields.message);
    this.name = 'WxAuthError';
    this.code = fields.code;
    this.status = fields.status;
    this.requestId = fields.requestId || null;
    this.wechatErrcode = fields.wechatErrcode == null ? null : fields.wechatErrcode;
    this.retryAfter = fields.retryAfter == null ? null : fields.retryAfter;
    this.reason = fields.reason || null; // account_disabled: the public reason
    this.until = fields.until || null; // account_disabled: when it ends, ISO 8601
  }
}

class NetworkError extends Error {
  /** @param {string} errMsg what wx.request's fail callback said */
  constructor(errMsg) {
    super('The server could not be reached: ' + errMsg);
    this.name = 'NetworkError';
    this.code = 'network_error';
    this.errMsg = errMsg;
  }
}

class WxApiError extends Error {
  /**
   * @param {string} api the wx.* function that failed, e.g. "login"
   * @param {string} errMsg what its fail callback (or the button event) said
   * @param {string} [code] "wx_api_error", or "user_denied" when the user said no
   */
  constructor(api, errMsg, code) {
    super('wx.' + api + ' failed: ' + errMsg);
    this.name = 'WxApiError';
    this.code = code || 'wx_api_error';
    this.api = api;
    this.errMsg = errMsg;
  }
}

function headerValue(headers, name) {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === wanted) return headers[key];
  }
  return undefined;
}

function parseBody(data) {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch (_) {
    return null;
  }
}

/**
 * The error for a non-2xx answer. A body that is not wxauth's error shape (a proxy's HTML
 * page, say) still gives a WxAuthError, with code "http_<status>".
 */
function serverError(response) {
  const body = parseBody(response.data);
  const status = response.statusCode;
  const retryAfter = Number(headerValue(response.header, 'Retry-After'));
  const requestId =
    (body && typeof body.request_id === 'string' && body.request_id) ||
    headerValue(response.header, 'X-Request-ID') ||
    null;
  const known = body && typeof body.error === 'string';
  return new WxAuthError({
    code: known ? body.error : 'http_' + status,
    message: known && typeof body.message === 'string' ? body.message : 'HTTP ' + status,
    status: status,
    requestId: requestId,
    wechatErrcode: known && typeof body.wechat_errcode === 'number' ? body.wechat_errcode : null,
    retryAfter: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : null,
    reason: known && typeof body.reason === 'string' ? body.reason : null,
    until: known && typeof body.until === 'string' ? body.until : null,
  });
}

module.exports = { WxAuthError, NetworkError, WxApiError, serverError, parseBody, headerValue };
