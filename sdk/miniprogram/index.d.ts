// Type declarations for wxauth-miniprogram (lib/*.js).

/**
 * What wxauth answers for the signed-in user (never the openid, never the session_key): the
 * server's UserPublic. Every field is always sent; null where the server has no value.
 */
export interface User {
  id: string;
  appid: string;
  nickname: string | null;
  avatar_url: string | null;
  gender: number | null;
  country: string | null;
  province: string | null;
  city: string | null;
  language: string | null;
  has_phone: boolean;
  /** ISO 8601 date-time. */
  created_at: string | null;
  /** ISO 8601 date-time. */
  updated_at: string | null;
  /** The person across the owner's mini programs: the same for the users of one UnionID. */
  person_id: string;
}

export interface Session {
  /** The wxauth token sent as `Authorization: Bearer <token>`. */
  token: string;
  /** Milliseconds since the epoch after which the client stops using the token. */
  expiresAt: number;
  user: User | null;
  /** True when this login created the user (only ever on a fresh login). */
  newUser: boolean;
}

/** The server's PhoneResponse. */
export interface PhoneNumber {
  phone_number: string;
  pure_phone_number: string;
  country_code: string;
}

/** WeChat's names; snake_case is accepted by the server too. */
export interface ProfileFields {
  nickName?: string;
  avatarUrl?: string;
  gender?: number;
  country?: string;
  province?: string;
  city?: string;
  language?: string;
  rawData?: string;
  signature?: string;
  encryptedData?: string;
  iv?: string;
  [field: string]: unknown;
}

/** What the phone said about itself at that session's login (the server's DeviceOut). */
export interface Device {
  brand: string | null;
  model: string | null;
  platform: string | null;
  system: string | null;
  wechat_version: string | null;
}

/** One of the user's live sessions, i.e. a device (the server's SessionOut). */
export interface DeviceSession {
  /** Names the session for revokeSession; it is not a token. */
  id: string;
  /** True for the session of this client. */
  current: boolean;
  /** ISO 8601: the login (first use). */
  created_at: string;
  /** ISO 8601: the last use (updated every few minutes). */
  last_seen_at: string;
  /** ISO 8601. */
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  device: Device;
}

/** The server's DeleteAccountResponse. */
export interface AccountDeletion {
  /** True: erased now. False: erased at due_at, unless the user logs in before. */
  deleted: boolean;
  /** ISO 8601, when erasure is delayed by the server's grace period. */
  due_at?: string | null;
}

export type LogoutScope = 'current' | 'all' | 'others';

type Method = 'OPTIONS' | 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'TRACE' | 'CONNECT';

export interface RequestOptions {
  /** A path under baseUrl ("/v1/me") or an absolute URL. */
  url: string;
  method?: Method;
  data?: string | object | ArrayBuffer;
  header?: Record<string, string>;
  timeout?: number;
  /** false: never attach the token (default: attached for baseUrl and authOrigins). */
  auth?: boolean;
}

export interface Response<T = unknown> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
}

/** Callback-style API object: `wx`, uni-app's `uni` or Taro's `Taro`. */
export interface WxLike {
  login(options: object): unknown;
  checkSession(options: object): unknown;
  request(options: object): unknown;
  uploadFile(options: object): unknown;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): void;
}

export interface ClientOptions {
  /** wxauth's base URL, e.g. "https://auth.example.com". */
  baseUrl: string;
  /** Sent with each login; needed when the server serves several mini programs. */
  appid?: string;
  /** Storage key for the session (default "wxauth_session"). */
  storageKey?: string;
  /** The platform API object (default: the `wx` global). */
  wx?: WxLike;
  /** Origins of your own backends that should receive the token too. */
  authOrigins?: string[];
  /** Milliseconds for each request (WeChat's default and maximum: 60000). */
  timeout?: number;
  /** The clock in milliseconds (default Date.now). */
  now?: () => number;
  /** false: do not send wx.getDeviceInfo's brand, model, platform, system and version at login. */
  device?: boolean;
}

/** A button event (`e`), its `e.detail`, or anything carrying `detail`. */
interface EventLike<D> {
  detail: D;
}

export interface PhoneDetail {
  code?: string;
  encryptedData?: string;
  iv?: string;
  errMsg?: string;
}

export interface Client {
  /**
   * The stored session while valid, else wx.login → POST /v1/login; concurrent callers share
   * one login. After a 401 session_replaced or 403 account_disabled it rejects with that error
   * instead of logging in, until called with `{ force: true }` (the user asked to log in).
   */
  login(options?: { force?: boolean }): Promise<Session>;
  /** wx.request as a promise, with the token and one re-login on 401 invalid_token. */
  request<T = unknown>(options: RequestOptions): Promise<Response<T>>;
  getMe(): Promise<User>;
  updateProfile(fields: ProfileFields): Promise<User>;
  /** Upload the temp file from `<button open-type="chooseAvatar">` (the path or the event). */
  uploadAvatar(pathOrEvent: string | EventLike<{ avatarUrl: string }>): Promise<User>;
  /** The code (or the whole event) from `<button open-type="getPhoneNumber">`. */
  bindPhone(codeOrEvent: string | PhoneDetail | EventLike<PhoneDetail>): Promise<PhoneNumber>;
  /** wx.checkSession; when it fails, log in again so the server holds the newest session_key. */
  checkSession(): Promise<Session>;
  /**
   * End this session (scope "current", the default) and forget it locally; "all" ends every
   * session of the user; "others" every one but this, which is kept.
   */
  logout(options?: { scope?: LogoutScope }): Promise<void>;
  /** The user's live sessions (devices), most recently used first. */
  listSessions(): Promise<DeviceSession[]>;
  /** End one of the user's sessions by its id: its token stops working at once. */
  revokeSession(id: string): Promise<void>;
  /** Close the account (after the user confirmed): every session ends; the local one is dropped. */
  deleteAccount(): Promise<AccountDeletion>;
  /** Everything the server stores about the user, as JSON (at most once a minute: 429 after). */
  exportData(): Promise<Record<string, unknown>>;
  /** The stored session, without a network call; null when none is usable. */
  getSession(): Session | null;
  /**
   * A short-lived signed access token (a JWT, ES256) for the app's other backends, which
   * verify it offline with the JWKS at /.well-known/jwks.json. Cached in memory and renewed
   * before it expires; concurrent callers share one request; `{ force: true }` gets a new one.
   */
  getAccessToken(options?: { force?: boolean }): Promise<string>;
}

export function createClient(options: ClientOptions): Client;

/** The server answered with an error. */
export class WxAuthError extends Error {
  name: 'WxAuthError';
  /**
   * The server's `error` code: "invalid_token", "invalid_code", "session_replaced" (a newer
   * login on another device ended this session), "account_disabled" (see `reason`, `until`),
   * ... (or "http_<status>").
   */
  code: string;
  /** account_disabled: the public reason. */
  reason: string | null;
  /** account_disabled: when it ends (ISO 8601), or null. */
  until: string | null;
  status: number;
  requestId: string | null;
  wechatErrcode: number | null;
  /** Seconds, from Retry-After (429, 503). */
  retryAfter: number | null;
  constructor(fields: {
    code: string;
    message: string;
    status: number;
    requestId?: string | null;
    wechatErrcode?: number | null;
    retryAfter?: number | null;
    reason?: string | null;
    until?: string | null;
  });
}

/** The server could not be reached (offline, DNS, timeout, refused). */
export class NetworkError extends Error {
  name: 'NetworkError';
  code: 'network_error';
  errMsg: string;
  /** @param errMsg what wx.request's fail callback said */
  constructor(errMsg: string);
}

/** A wx.* API failed on the phone, or the user declined. */
export class WxApiError extends Error {
  name: 'WxApiError';
  code: 'wx_api_error' | 'user_denied';
  api: string;
  errMsg: string;
  /** @param api the wx.* function that failed, e.g. "login" */
  constructor(api: string, errMsg: string, code?: 'wx_api_error' | 'user_denied');
}
