// Where wxauth runs. `make dev` serves it, with the WeChat simulator, on port 8000; its demo
// mini program has the appid below. For a real deployment: your HTTPS domain (add it to the
// mini program's request and uploadFile domains), your appid, and useSimulator: false.
module.exports = {
  baseUrl: 'http://127.0.0.1:8000',
  appid: 'wxd0e0000000000001',
  // A code from the real wx.login means nothing to the simulator, so against `make dev` the
  // phone side (wx.login, wx.checkSession) is played by the simulator's /sim/ endpoints.
  useSimulator: true,
};
