// The server's response bodies, from its OpenAPI schema (GET /openapi.json). Written by
// `node scripts/server-types.js`; test/schemas.test.js fails when the server has changed.
// index.test-d.ts checks index.d.ts against these. Do not edit by hand.

/** What a client sees of a user: never the openid, never the session_key. */
export interface UserPublic {
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
  created_at: string | null;
  updated_at: string | null;
  person_id: string;
}

export interface PhoneResponse {
  phone_number: string;
  pure_phone_number: string;
  country_code: string;
}

export interface DeviceOut {
  brand: string | null;
  model: string | null;
  platform: string | null;
  system: string | null;
  wechat_version: string | null;
}

/** One of the user's live sessions: ``id`` names it for revoking; it is not a token. */
export interface SessionOut {
  id: string;
  current: boolean;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  device: DeviceOut;
}

export interface SessionList {
  sessions: SessionOut[];
}

export interface DeleteAccountResponse {
  deleted: boolean;
  due_at?: string | null;
}
