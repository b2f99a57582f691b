"""An in-memory :class:`~wxauth.core.ports.Store` for unit tests and experiments."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

from wxauth.core.models import LoginRecord, Session, User
from wxauth.core.service import new_user_id
from wxauth.errors import NotFound


class MemoryStore:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.sessions: dict[str, Session] = {}
        self.session_keys: dict[tuple[str, str], str] = {}
        self._by_openid: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        async with self._lock:
            now = record.session.created_at
            user_id = self._by_openid.get((record.appid, record.openid))
            created = user_id is None
            if user_id is None:
                user = User(
                    id=new_user_id(),
                    appid=record.appid,
                    openid=record.openid,
                    unionid=record.unionid,
                    created_at=now,
                    updated_at=now,
                    last_login_at=now,
                    **record.profile,
                )
                self._by_openid[(record.appid, record.openid)] = user.id
            else:
                old = self.users[user_id]
                user = dataclasses.replace(
                    old,
                    unionid=record.unionid or old.unionid,
                    last_login_at=now,
                    updated_at=now if record.profile else old.updated_at,
                    **record.profile,
                )
            self.users[user.id] = user
            self.session_keys[(record.appid, record.openid)] = record.session_key_ciphertext
            session = dataclasses.replace(record.session, user_id=user.id)
            self.sessions[session.token_hash] = session
            return user, created

    async def find_session(self, token_hash: str) -> tuple[Session, User] | None:
        session = self.sessions.get(token_hash)
        if session is None:
            return None
        return session, self.users[session.user_id]

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        session = self.sessions.get(token_hash)
        if session is not None:
            self.sessions[token_hash] = dataclasses.replace(
                session, last_seen_at=last_seen_at, idle_expires_at=idle_expires_at
            )

    async def revoke_session(self, token_hash: str, now: datetime) -> bool:
        session = self.sessions.get(token_hash)
        if session is None or session.revoked_at is not None:
            return False
        self.sessions[token_hash] = dataclasses.replace(session, revoked_at=now)
        return True

    async def get_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User:
        if user_id not in self.users:
            raise NotFound("No such user.")
        user = dataclasses.replace(self.users[user_id], updated_at=now, **changes)
        self.users[user_id] = user
        return user

    async def get_session_key(self, appid: str, openid: str) -> str | None:
        return self.session_keys.get((appid, openid))

    async def ping(self) -> None:
        return None
