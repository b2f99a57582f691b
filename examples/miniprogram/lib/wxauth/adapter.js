'use strict';
/**
 * The platform's API object (`wx`, uni-app's `uni`, Taro's `Taro`) seen through promises.
 * All three take `success`/`fail` callbacks with WeChat's shapes, so callbacks are what is
 * used here: Taro's and uni's promise forms differ from each other, their callbacks do not.
 */

const { NetworkError, WxApiError } = require('./errors');

/** The `wx` global when there is one (it is a free variable inside a mini program). */
function defaultApi() {
  /* global wx */
  if (typeof wx !== 'undefined') return wx;
  throw new TypeError(
    'wxauth: no `wx` global here; pass createClient({ wx: uni }) or { wx: Taro }',
  );
}

/** Call `api[name](options)` and settle with what its success or fail callback got. */
function call(api, name, options) {
  return new Promise(function invoke(resolve, reject) {
    api[name](
      Object.assign({}, options, {
        success: resolve,
        fail: function failed(res) {
          reject((res && res.errMsg) || name + ':fail');
        },
      }),
    );
  });
}

/** wx.request / wx.uploadFile: a network failure becomes a NetworkError. */
function transfer(api, name, options) {
  return call(api, name, options).catch(function toNetworkError(errMsg) {
    throw new NetworkError(String(errMsg));
  });
}

/** Any other wx.* call: a failure becomes a WxApiError. */
function invoke(api, name, options) {
  return call(api, name, options || {}).catch(function toApiError(errMsg) {
    throw new WxApiError(name, String(errMsg));
  });
}

/** Storage never throws at the caller: a full or broken storage just means "not stored". */
function createStorage(api, key) {
  return {
    read: function read() {
      try {
        const value = api.getStorageSync(key);
        return value && typeof value === 'object' && typeof value.token === 'string' ? value : null;
      } catch (_) {
        return null;
      }
    },
    write: function write(value) {
      try {
        api.setStorageSync(key, value);
      } catch (_) {
        // The token still works for this run of the app; the next launch logs in again.
      }
    },
    clear: function clear() {
      try {
        api.removeStorageSync(key);
      } catch (_) {
        // Nothing stored, or storage unavailable: either way nothing is left to use.
      }
    },
  };
}

module.exports = { defaultApi, transfer, invoke, createStorage };
