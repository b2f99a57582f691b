const { describeError, signsOut } = require('../../utils/account.js');

const app = getApp();
// WeChat's grey default avatar, shown until the user picks one.
const DEFAULT_AVATAR =
  'https://mmbiz.qpic.cn/mmbiz/icTdbqWNOwNRna42FI242Lcia07jQodd2FJGIYQfG0LAJGFxM4FbnQP6yfMxBgJ0F3YRqJCJ1aPAK2dQagdusBZg/0';

Page({
  data: {
    state: 'loading', // loading | in | out
    user: null,
    phone: '',
    error: '',
    notice: '',
    defaultAvatar: DEFAULT_AVATAR,
  },

  // `notice`: another page signed the user out (account deleted, logged out everywhere, ended
  // by another device): say so and wait for "Sign in" instead of signing in by itself.
  onLoad(query) {
    if (query && query.notice) {
      this.setData({ state: 'out', notice: decodeURIComponent(query.notice) });
      return;
    }
    this.signIn();
  },

  // checkSession first: if WeChat let the session_key expire, the client logs in again now,
  // so anything the phone encrypts next (encryptedData) decrypts on the server. After a
  // session_replaced or account_disabled answer the client does not log in by itself: this
  // rejects with that error, shown until the user taps "Sign in".
  signIn() {
    this.setData({ state: 'loading', error: '', notice: '' });
    app.auth
      .checkSession()
      .then(() => app.auth.getMe())
      .then((user) => this.setData({ state: 'in', user: user }))
      .catch((err) => this.setData({ state: 'out', error: describeError(err) }));
  },

  // The user asked to sign in: a new login even after session_replaced / account_disabled
  // (a disabled account is refused again, with its reason).
  onSignIn() {
    this.setData({ state: 'loading', error: '', notice: '' });
    app.auth
      .login({ force: true })
      .then(() => app.auth.getMe())
      .then((user) => this.setData({ state: 'in', user: user }))
      .catch((err) => this.setData({ state: 'out', error: describeError(err) }));
  },

  // session_replaced / account_disabled on any call: this device is signed out; say why.
  fail(err) {
    if (signsOut(err)) this.setData({ state: 'out', user: null, phone: '' });
    this.setData({ error: describeError(err) });
  },

  onChooseAvatar(e) {
    app.auth
      .uploadAvatar(e)
      .then((user) => this.setData({ user: user, error: '' }))
      .catch((err) => this.fail(err));
  },

  // A form submit, not blur: WeChat checks the nickname's content before the form sees it.
  onSaveNickname(e) {
    const nickName = (e.detail.value.nickname || '').trim();
    if (!nickName) return;
    app.auth
      .updateProfile({ nickName: nickName })
      .then((user) => this.setData({ user: user, error: '' }))
      .catch((err) => this.fail(err));
  },

  onGetPhoneNumber(e) {
    app.auth
      .bindPhone(e)
      .then((info) => this.setData({ phone: info.phone_number, 'user.has_phone': true, error: '' }))
      .catch((err) => this.fail(err));
  },

  onLogout() {
    app.auth
      .logout()
      .catch(() => undefined) // signed out here either way
      .then(() => this.setData({ state: 'out', user: null, phone: '' }));
  },
});
