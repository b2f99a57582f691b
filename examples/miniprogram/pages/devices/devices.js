const { sessionRows, describeError, signsOut, signedOutUrl } = require('../../utils/account.js');

const app = getApp();

Page({
  data: {
    state: 'loading', // loading | ready
    rows: [],
    busy: false,
    error: '',
  },

  onShow() {
    this.load();
  },

  onPullDownRefresh() {
    this.load().then(() => wx.stopPullDownRefresh());
  },

  load() {
    return app.auth
      .listSessions()
      .then((sessions) =>
        this.setData({ state: 'ready', rows: sessionRows(sessions, Date.now()), error: '' }),
      )
      .catch((err) => this.fail(err));
  },

  // session_replaced / account_disabled: this device is signed out; say why, then go back to
  // the signed-out index page (which does not sign in again by itself).
  fail(err) {
    const message = describeError(err);
    this.setData({ state: 'ready', busy: false, error: message });
    if (!signsOut(err)) return;
    wx.showModal({
      title: 'Signed out',
      content: message,
      showCancel: false,
      complete: () => wx.reLaunch({ url: signedOutUrl(message) }),
    });
  },

  // The session's token stops working at once: that phone is signed out.
  onEnd(e) {
    const id = e.currentTarget.dataset.id;
    this.setData({ busy: true });
    app.auth
      .revokeSession(id)
      .then(() => {
        this.setData({ busy: false });
        wx.showToast({ title: 'Signed out', icon: 'success' });
        return this.load();
      })
      .catch((err) => this.fail(err));
  },

  onLogoutOthers() {
    this.setData({ busy: true });
    app.auth
      .logout({ scope: 'others' })
      .then(() => {
        this.setData({ busy: false });
        wx.showToast({ title: 'Others signed out', icon: 'success' });
        return this.load();
      })
      .catch((err) => this.fail(err));
  },

  onLogoutEverywhere() {
    wx.showModal({
      title: 'Log out everywhere?',
      content: 'Every device signed in to your account, this one included, is signed out.',
      confirmText: 'Log out',
      success: (res) => {
        if (!res.confirm) return;
        this.setData({ busy: true });
        app.auth
          .logout({ scope: 'all' })
          .catch(() => undefined) // signed out here either way
          .then(() => wx.reLaunch({ url: signedOutUrl('You are signed out on every device.') }));
      },
    });
  },
});
