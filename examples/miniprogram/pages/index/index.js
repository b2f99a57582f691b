const { NetworkError } = require('../../lib/wxauth/index.js');

const app = getApp();
// WeChat's grey default avatar, shown until the user picks one.
const DEFAULT_AVATAR =
  'https://mmbiz.qpic.cn/mmbiz/icTdbqWNOwNRna42FI242Lcia07jQodd2FJGIYQfG0LAJGFxM4FbnQP6yfMxBgJ0F3YRqJCJ1aPAK2dQagdusBZg/0';

function describe(err) {
  if (err instanceof NetworkError) return 'Cannot reach the server. Is `make dev` running?';
  if (err && err.code === 'user_denied') return '';
  return (err && err.message) || String(err);
}

Page({
  data: {
    state: 'loading', // loading | in | out
    user: null,
    phone: '',
    error: '',
    defaultAvatar: DEFAULT_AVATAR,
  },

  onLoad() {
    this.signIn();
  },

  // checkSession first: if WeChat let the session_key expire, the client logs in again now,
  // so anything the phone encrypts next (encryptedData) decrypts on the server.
  signIn() {
    this.setData({ state: 'loading', error: '' });
    app.auth
      .checkSession()
      .then(() => app.auth.getMe())
      .then((user) => this.setData({ state: 'in', user: user }))
      .catch((err) => this.setData({ state: 'out', error: describe(err) }));
  },

  onChooseAvatar(e) {
    app.auth
      .uploadAvatar(e)
      .then((user) => this.setData({ user: user, error: '' }))
      .catch((err) => this.setData({ error: describe(err) }));
  },

  // A form submit, not blur: WeChat checks the nickname's content before the form sees it.
  onSaveNickname(e) {
    const nickName = (e.detail.value.nickname || '').trim();
    if (!nickName) return;
    app.auth
      .updateProfile({ nickName: nickName })
      .then((user) => this.setData({ user: user, error: '' }))
      .catch((err) => this.setData({ error: describe(err) }));
  },

  onGetPhoneNumber(e) {
    app.auth
      .bindPhone(e)
      .then((info) => this.setData({ phone: info.phone_number, 'user.has_phone': true, error: '' }))
      .catch((err) => this.setData({ error: describe(err) }));
  },

  onLogout() {
    app.auth
      .logout()
      .catch(() => undefined) // signed out here either way
      .then(() => this.setData({ state: 'out', user: null, phone: '' }));
  },
});
