const { describeError, deletionNotice, signsOut, signedOutUrl } = require('../../utils/account.js');

const app = getApp();

Page({
  data: {
    busy: false,
    error: '',
  },

  fail(err) {
    const message = describeError(err);
    this.setData({ busy: false, error: message });
    if (signsOut(err)) wx.reLaunch({ url: signedOutUrl(message) });
  },

  // A copy before it goes: GET /v1/me/export, at most once a minute (429 rate_limited after).
  onCopyData() {
    this.setData({ busy: true, error: '' });
    app.auth
      .exportData()
      .then((data) => {
        this.setData({ busy: false });
        wx.setClipboardData({ data: JSON.stringify(data, null, 2) });
      })
      .catch((err) => this.fail(err));
  },

  onDelete() {
    wx.showModal({
      title: 'Delete your account?',
      content: 'Your profile, phone number and sessions are erased. This cannot be undone.',
      confirmText: 'Delete',
      confirmColor: '#d33',
      success: (res) => {
        if (res.confirm) this.deleteNow();
      },
    });
  },

  // Every session ends at once and the SDK drops this one, so the index page opens signed
  // out and does not sign in by itself (which would make a new account, or cancel a
  // deletion that waits for its grace period).
  deleteNow() {
    this.setData({ busy: true, error: '' });
    app.auth
      .deleteAccount()
      .then((result) => wx.reLaunch({ url: signedOutUrl(deletionNotice(result)) }))
      .catch((err) => this.fail(err));
  },
});
