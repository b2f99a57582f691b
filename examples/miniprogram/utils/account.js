// What the account pages show, as plain functions of what the SDK returns (no wx, no Page):
// a session as a row of "My devices", an error as a sentence, a deletion's outcome.
// sdk/miniprogram/test/example.test.js tests them with node --test.

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function pad(n) {
  return (n < 10 ? '0' : '') + n;
}

/** "2024-05-01 09:30", in the phone's time zone. */
function formatDate(iso) {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return '';
  return (
    d.getFullYear() +
    '-' +
    pad(d.getMonth() + 1) +
    '-' +
    pad(d.getDate()) +
    ' ' +
    pad(d.getHours()) +
    ':' +
    pad(d.getMinutes())
  );
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", then the date. */
function timeAgo(iso, now) {
  const then = new Date(iso).getTime();
  if (isNaN(then)) return '';
  const ago = Math.max(0, now - then);
  if (ago < MINUTE) return 'just now';
  if (ago < HOUR) return Math.floor(ago / MINUTE) + ' min ago';
  if (ago < DAY) return Math.floor(ago / HOUR) + ' h ago';
  if (ago < 30 * DAY) {
    const days = Math.floor(ago / DAY);
    return days + (days === 1 ? ' day ago' : ' days ago');
  }
  return formatDate(iso);
}

/** "Apple iPhone 15"; the platform when the phone said nothing more; else "Unknown device". */
function deviceName(device) {
  const d = device || {};
  const model = d.model || '';
  // Phones often repeat the brand in the model ("HUAWEI HUAWEI Mate 60" otherwise).
  const brand = d.brand && model.toLowerCase().indexOf(d.brand.toLowerCase()) !== 0 ? d.brand : '';
  const name = [brand, model].filter(Boolean).join(' ');
  return name || d.platform || 'Unknown device';
}

/** "iOS 17.2 · WeChat 8.0.47", whatever of it is known. */
function systemLine(device) {
  const d = device || {};
  return [d.system, d.wechat_version ? 'WeChat ' + d.wechat_version : '']
    .filter(Boolean)
    .join(' · ');
}

/** One row of "My devices" from one of listSessions()'s sessions. */
function sessionRow(session, now) {
  return {
    id: session.id,
    current: Boolean(session.current),
    name: deviceName(session.device),
    system: systemLine(session.device),
    lastUsed: session.current ? 'in use now' : 'last used ' + timeAgo(session.last_seen_at, now),
    signedIn: 'signed in ' + formatDate(session.created_at),
  };
}

/** The rows of "My devices": this device first, then the most recently used. */
function sessionRows(sessions, now) {
  const rows = (sessions || []).map((s) => sessionRow(s, now));
  return rows.filter((r) => r.current).concat(rows.filter((r) => !r.current));
}

/** True for the errors after which the user is signed out and must tap "Sign in" again. */
function signsOut(err) {
  return Boolean(err && (err.code === 'session_replaced' || err.code === 'account_disabled'));
}

/** The sentence to show for an SDK error; '' when there is nothing to say (the user declined). */
function describeError(err) {
  if (!err) return '';
  switch (err.code) {
    case 'network_error':
      return 'Cannot reach the server. Is `make dev` running?';
    case 'user_denied':
      return '';
    case 'session_replaced':
      return 'You signed in on another device, so this one was signed out. Sign in again to use it here.';
    case 'account_disabled':
      return (
        'This account is disabled' +
        (err.reason ? ': ' + err.reason : '.') +
        (err.until ? ' (until ' + formatDate(err.until) + ')' : '')
      );
    case 'rate_limited':
      return 'Too many requests: try again in a minute.';
    default:
      return err.message || String(err);
  }
}

/** What to tell the user after deleteAccount() resolved with {deleted, due_at}. */
function deletionNotice(result) {
  if (result && !result.deleted && result.due_at) {
    return (
      'Your account will be erased on ' +
      formatDate(result.due_at) +
      '. Signing in before then cancels the deletion.'
    );
  }
  return 'Your account and its data were erased.';
}

/** The index page, signed out, showing `notice` instead of signing in by itself. */
function signedOutUrl(notice) {
  return '/pages/index/index?notice=' + encodeURIComponent(notice);
}

module.exports = {
  formatDate: formatDate,
  timeAgo: timeAgo,
  deviceName: deviceName,
  systemLine: systemLine,
  sessionRow: sessionRow,
  sessionRows: sessionRows,
  signsOut: signsOut,
  describeError: describeError,
  deletionNotice: deletionNotice,
  signedOutUrl: signedOutUrl,
};
