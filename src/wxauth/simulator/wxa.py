"""The simulator's server-side world beyond login: access tokens, phone codes, phone numbers.

Tokens follow WeChat (see WECHAT.md section 2): /cgi-bin/token issues a new token on every
call and leaves the previous one valid for five more minutes; /cgi-bin/stable_token returns
the same token until five minutes before it expires, and ``force_refresh`` works at most 20
times a day, 30 seconds apart (otherwise it silently returns the current token).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

TOKEN_TTL_S = 7200
GRACE_S = 300  # an old token stays valid this long after a new one is issued
FORCE_REFRESH_PER_DAY = 20
FORCE_REFRESH_SPACING_S = 30
PHONE_CODE_TTL_S = 300

TOKEN_OK = 0
TOKEN_MISSING = 41001
TOKEN_INVALID = 40001
TOKEN_EXPIRED = 42001


@dataclass(slots=True)
class TokenGrant:
    appid: str
    expires_at: float
    valid_until: float  # earlier than expires_at once a newer token replaced this one


@dataclass(slots=True)
class PhoneGrant:
    appid: str
    user: str
    issued_at: float
    used: bool = False


@dataclass(slots=True)
class WxaState:
    grants: dict[str, TokenGrant] = field(default_factory=dict)
    classic: dict[str, str] = field(default_factory=dict)  # appid -> newest /cgi-bin/token
    stable: dict[str, str] = field(default_factory=dict)  # appid -> current stable token
    forced: dict[str, list[float]] = field(default_factory=dict)
    tokens_issued: int = 0
    phone_codes: dict[str, PhoneGrant] = field(default_factory=dict)
    phones: dict[str, tuple[str, str]] = field(default_factory=dict)  # user -> (cc, number)

    def _issue(self, appid: str, previous: str | None, now: float) -> str:
        if previous is not None and previous in self.grants:
            old = self.grants[previous]
            old.valid_until = min(old.valid_until, now + GRACE_S)
        token = "sim_at_" + secrets.token_urlsafe(48)
        self.grants[token] = TokenGrant(appid, now + TOKEN_TTL_S, now + TOKEN_TTL_S)
        self.tokens_issued += 1
        return token

    def issue_classic(self, appid: str, now: float) -> tuple[str, int]:
        token = self._issue(appid, self.classic.get(appid), now)
        self.classic[appid] = token
        return token, TOKEN_TTL_S

    def issue_delegated(self, appid: str, previous: str | None, now: float) -> tuple[str, int]:
        """An authorizer_access_token: a token of ``appid`` that a third-party platform got
        for it (the /wxa/ paths take it as they take the app's own)."""
        return self._issue(appid, previous, now), TOKEN_TTL_S

    def issue_stable(self, appid: str, now: float, force: bool) -> tuple[str, int]:
        current = self.stable.get(appid)
        grant = self.grants.get(current) if current else None
        renew = grant is None or now >= grant.expires_at - GRACE_S or now >= grant.valid_until
        if force and not renew and self._may_force(appid, now):
            renew = True
        if renew:
            current = self._issue(appid, current, now)
            self.stable[appid] = current
        assert current is not None
        return current, int(self.grants[current].expires_at - now)

    def _may_force(self, appid: str, now: float) -> bool:
        recent = [t for t in self.forced.get(appid, []) if now - t < 86_400]
        if len(recent) >= FORCE_REFRESH_PER_DAY or (
            recent and now - recent[-1] < FORCE_REFRESH_SPACING_S
        ):
            self.forced[appid] = recent
            return False
        self.forced[appid] = [*recent, now]
        return True

    def check(self, token: str, now: float) -> tuple[int, str | None]:
        """(errcode, appid) for a presented access_token."""
        if not token:
            return TOKEN_MISSING, None
        grant = self.grants.get(token)
        if grant is None:
            return TOKEN_INVALID, None
        if now >= grant.expires_at:
            return TOKEN_EXPIRED, grant.appid
        if now >= grant.valid_until:
            return TOKEN_INVALID, grant.appid
        return TOKEN_OK, grant.appid

    def revoke(self, appid: str) -> None:
        """Make every token of ``appid`` "not the latest" at once (for tests of 40001)."""
        for grant in self.grants.values():
            if grant.appid == appid:
                grant.valid_until = 0.0

    def issue_phone_code(self, appid: str, user: str, now: float) -> str:
        code = secrets.token_urlsafe(24)
        self.phone_codes[code] = PhoneGrant(appid, user, now)
        return code

    def phone_of(self, user: str) -> tuple[str, str]:
        """(country code, number): a stable mainland number per simulated user by default."""
        if user not in self.phones:
            digits = int.from_bytes(hashlib.sha256(f"phone\0{user}".encode()).digest()[:8], "big")
            self.phones[user] = ("86", f"138{digits % 10**8:08d}")
        return self.phones[user]


def phone_info(country_code: str, number: str, appid: str, now: float) -> dict[str, object]:
    """WeChat's ``phone_info`` shape (also the plaintext of the phone encryptedData)."""
    full = number if country_code == "86" else f"+{country_code}{number}"
    return {
        "phoneNumber": full,
        "purePhoneNumber": number,
        "countryCode": country_code,
        "watermark": {"timestamp": int(now), "appid": appid},
    }
