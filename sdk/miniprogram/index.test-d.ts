// Type tests of the hand-written index.d.ts (`npm run test:types`, which is tsd): what the
// declarations promise, checked against the server's actual response bodies.
import { expectAssignable, expectError, expectType } from 'tsd';

import {
  createClient,
  NetworkError,
  WxApiError,
  WxAuthError,
  type AccountDeletion,
  type Client,
  type Device,
  type DeviceSession,
  type PhoneNumber,
  type Response,
  type Session,
  type User,
} from '.';
import type {
  DeleteAccountResponse,
  DeviceOut,
  PhoneResponse,
  SessionOut,
  UserPublic,
} from './test/server-types';

// The bodies the server sends, field for field: a field that is missing, extra, optional or
// not nullable where the server's schema says otherwise fails here (test/server-types.d.ts is
// generated from the server's OpenAPI schema and checked by test/schemas.test.js).
declare const user: User;
declare const server: UserPublic;
expectType<UserPublic>(user);
expectType<User>(server);
expectType<string | null>(user.created_at);
expectType<string | null>(user.updated_at);
expectType<number | null>(user.gender);
expectType<boolean>(user.has_phone);
// @ts-expect-error: the server may send null
const createdAt: string = user.created_at;
// @ts-expect-error: never the openid
void user.openid;

declare const phone: PhoneNumber;
declare const serverPhone: PhoneResponse;
expectType<PhoneResponse>(phone);
expectType<PhoneNumber>(serverPhone);

// createClient
const client = createClient({ baseUrl: 'https://auth.example.com' });
expectType<Client>(client);
declare const uni: {
  login(options: object): void;
  checkSession(options: object): void;
  request(options: object): void;
  uploadFile(options: object): void;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): void;
};
createClient({
  baseUrl: 'https://auth.example.com',
  appid: 'wx0000000000000001',
  storageKey: 'session',
  wx: uni,
  authOrigins: ['https://api.example.com'],
  timeout: 10000,
  now: () => 0,
});
// @ts-expect-error: baseUrl is required
createClient({});
// @ts-expect-error: authOrigins is a list
createClient({ baseUrl: 'https://auth.example.com', authOrigins: 'https://api.example.com' });
// @ts-expect-error: not a platform API object
createClient({ baseUrl: 'https://auth.example.com', wx: {} });

// Sessions
expectType<Promise<Session>>(client.login());
expectType<Promise<Session>>(client.login({ force: true }));
expectType<Promise<Session>>(client.checkSession());
expectType<Session | null>(client.getSession());
declare const session: Session;
expectType<string>(session.token);
expectType<number>(session.expiresAt);
expectType<User | null>(session.user);
expectType<boolean>(session.newUser);
// @ts-expect-error: force is a boolean
client.login({ force: 'yes' });
// @ts-expect-error: there may be no session
void client.getSession().token;

// Requests
expectType<Promise<Response<unknown>>>(client.request({ url: '/v1/me' }));
expectType<Promise<Response<{ ok: boolean }>>>(
  client.request<{ ok: boolean }>({
    url: 'https://api.example.com/orders',
    method: 'POST',
    data: { item: 1 },
    header: { 'X-Trace': '1' },
    timeout: 5000,
    auth: false,
  }),
);
declare const response: Response<User>;
expectType<number>(response.statusCode);
expectType<User>(response.data);
expectType<Record<string, string>>(response.header);
// @ts-expect-error: url is required
client.request({ method: 'GET' });
// @ts-expect-error: wx.request has no PATCH
client.request({ url: '/v1/me', method: 'PATCH' });

// The user
expectType<Promise<User>>(client.getMe());
expectType<Promise<User>>(client.updateProfile({ nickName: '小明', gender: 1 }));
expectType<Promise<User>>(client.updateProfile({ rawData: '{}', signature: 'sig' }));
expectType<Promise<User>>(client.uploadAvatar('wxfile://tmp_avatar.png'));
expectType<Promise<User>>(client.uploadAvatar({ detail: { avatarUrl: 'wxfile://tmp.png' } }));
expectType<Promise<PhoneNumber>>(client.bindPhone('code'));
expectType<Promise<PhoneNumber>>(client.bindPhone({ detail: { code: 'code' } }));
expectType<Promise<PhoneNumber>>(client.bindPhone({ encryptedData: 'e', iv: 'i' }));
expectType<Promise<void>>(client.logout());
expectType<Promise<string>>(client.getAccessToken());
expectType<Promise<string>>(client.getAccessToken({ force: true }));
expectError(client.getAccessToken({ force: 'yes' }));
// @ts-expect-error: gender is a number
client.updateProfile({ gender: 'male' });
// @ts-expect-error: a path or a chooseAvatar event
client.uploadAvatar(42);
// @ts-expect-error: a code or a getPhoneNumber event
client.bindPhone(42);
expectError(client.uploadAvatar({ detail: { avatarUrl: 42 } }));

// Errors
const serverError = new WxAuthError({ code: 'invalid_token', message: 'no', status: 401 });
expectAssignable<Error>(serverError);
expectType<'WxAuthError'>(serverError.name);
expectType<string>(serverError.code);
expectType<number>(serverError.status);
expectType<string | null>(serverError.requestId);
expectType<number | null>(serverError.wechatErrcode);
expectType<number | null>(serverError.retryAfter);
const offline = new NetworkError('request:fail timeout');
expectType<'network_error'>(offline.code);
expectType<string>(offline.errMsg);
const declined = new WxApiError('getPhoneNumber', 'getPhoneNumber:fail user deny', 'user_denied');
expectType<'wx_api_error' | 'user_denied'>(declined.code);
expectType<string>(declined.api);
// @ts-expect-error: the fields, not a message
new WxAuthError('invalid_token');
// @ts-expect-error: not one of its codes
new WxApiError('login', 'fail', 'network_error');

// Sessions as devices, and the account: the server's bodies, field for field.
declare const deviceSession: DeviceSession;
declare const serverSession: SessionOut;
expectType<SessionOut>(deviceSession);
expectType<DeviceSession>(serverSession);
declare const device: Device;
declare const serverDevice: DeviceOut;
expectType<DeviceOut>(device);
expectType<Device>(serverDevice);
declare const deletion: AccountDeletion;
declare const serverDeletion: DeleteAccountResponse;
expectType<DeleteAccountResponse>(deletion);
expectType<AccountDeletion>(serverDeletion);

declare const accounts: Client;
expectType<Promise<DeviceSession[]>>(accounts.listSessions());
expectType<Promise<void>>(accounts.revokeSession('abc'));
expectError(accounts.revokeSession(5));
expectType<Promise<void>>(accounts.logout());
expectType<Promise<void>>(accounts.logout({ scope: 'others' }));
expectError(accounts.logout({ scope: 'everyone' }));
expectType<Promise<AccountDeletion>>(accounts.deleteAccount());
expectType<Promise<Record<string, unknown>>>(accounts.exportData());
declare const refusal: WxAuthError;
expectType<string | null>(refusal.reason);
expectType<string | null>(refusal.until);
createClient({ baseUrl: 'https://auth.example.com', device: false });
