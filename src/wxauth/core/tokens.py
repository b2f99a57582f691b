"""Session tokens: 256 random bits from :mod:`secrets`, known to the server only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from wxauth.core.models import ClientInfo, Session

TOKEN_PREFIX = "wxa_"  # noqa: S105 - a marker, not a secret
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128


def new_token() -> str:
    """A fresh session token; the prefix lets secret scanners recognise leaked ones."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: str) -> bool:
    """A cheap shape check, so that garbage never reaches the store."""
    return token.startswith(TOKEN_PREFIX) and len(token) <= MAX_TOKEN_LENGTH and token.isascii()


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Idle expiry slides on use; absolute expiry never moves.

    ``touch_interval`` bounds the writes: a session seen again within it is not updated,
    so a token check is a read and not a write.
    """

    idle_ttl: timedelta
    max_ttl: timedelta
    touch_interval: timedelta

    def new_session(
        self, token: str, user_id: str, appid: str, now: datetime, client: ClientInfo
    ) -> Session:
        expires_at = now + self.max_ttl
        device = client.device
        return Session(
            token_hash=hash_token(token),
            user_id=user_id,
            appid=appid,
            created_at=now,
            last_seen_at=now,
            idle_expires_at=min(now + self.idle_ttl, expires_at),
            expires_at=expires_at,
            user_agent=client.user_agent,
            ip=client.ip,
            device_brand=device.brand if device else None,
            device_model=device.model if device else None,
            device_platform=device.platform if device else None,
            device_system=device.system if device else None,
            device_wechat_version=device.wechat_version if device else None,
        )

    def needs_touch(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen_at >= self.touch_interval

    def idle_expiry(self, session: Session, now: datetime) -> datetime:
        return min(now + self.idle_ttl, session.expires_at)
