// The platform API object the client is given, with wx.login and wx.checkSession answered by
// wxauth's simulator (/sim/login, /sim/check-session) instead of WeChat. Everything else is
// the real `wx`. This is the same adapter parameter uni-app (`uni`) and Taro (`Taro`) use.

const USER_KEY = 'wxauth_example_sim_user';

function simulatedUser(wx) {
  let user = wx.getStorageSync(USER_KEY);
  if (!user) {
    user = 'devtools-' + Math.random().toString(36).slice(2, 10);
    wx.setStorageSync(USER_KEY, user);
  }
  return user;
}

function simPost(wx, url, data, onAnswer, fail) {
  wx.request({
    url: url,
    method: 'POST',
    data: data,
    success: function answered(res) {
      if (res.statusCode === 200) onAnswer(res.data);
      else if (fail) fail({ errMsg: 'simulator answered ' + res.statusCode });
    },
    fail: fail,
  });
}

function simulatedPhone(wx, config) {
  const who = { appid: config.appid, user: simulatedUser(wx) };
  return {
    login: function login(options) {
      simPost(
        wx,
        config.baseUrl + '/sim/login',
        who,
        function code(body) {
          options.success({ code: body.code, errMsg: 'login:ok' });
        },
        options.fail,
      );
    },
    checkSession: function checkSession(options) {
      simPost(
        wx,
        config.baseUrl + '/sim/check-session',
        who,
        function answer(body) {
          if (body.valid) options.success({ errMsg: body.errMsg });
          else options.fail({ errMsg: body.errMsg });
        },
        options.fail,
      );
    },
    request: wx.request.bind(wx),
    uploadFile: wx.uploadFile.bind(wx),
    getStorageSync: wx.getStorageSync.bind(wx),
    setStorageSync: wx.setStorageSync.bind(wx),
    removeStorageSync: wx.removeStorageSync.bind(wx),
  };
}

module.exports = { simulatedPhone: simulatedPhone };
