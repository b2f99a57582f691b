'use strict';
/**
 * wxauth-miniprogram: the mini-program client for wxauth.
 *
 *   const { createClient } = require('wxauth-miniprogram');
 *   const auth = createClient({ baseUrl: 'https://auth.example.com' });
 *   const me = await auth.getMe(); // logs in first when needed
 */

const { createClient } = require('./client');
const { WxAuthError, NetworkError, WxApiError } = require('./errors');

module.exports = { createClient, WxAuthError, NetworkError, WxApiError };
