const { createClient } = require('./lib/wxauth/index.js');
const { simulatedPhone } = require('./utils/sim-phone.js');
const config = require('./config.js');

App({
  // One client for the whole app: every page shares its stored token and its single login.
  auth: createClient({
    baseUrl: config.baseUrl,
    appid: config.appid,
    wx: config.useSimulator ? simulatedPhone(wx, config) : wx,
  }),
});
