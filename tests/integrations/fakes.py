"""A verifier with a fixed table of tokens, for testing the framework glue on its own."""

from __future__ import annotations

from datetime import UTC, datetime

from wxauth.api.schemas import UserPublic
from wxauth.errors import AuthUnavailable, InvalidToken
from wxauth.integrations import Identity

GOOD = "wxa_good-token"
DOWN = "wxa_service-down"


def identity(user_id: str = "u1", nickname: str | None = "Ann") -> Identity:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    user = UserPublic(
        id=user_id,
        appid="wx1",
        nickname=nickname,
        avatar_url=None,
        gender=None,
        country=None,
        province=None,
        city=None,
        language=None,
        has_phone=False,
        created_at=now,
        updated_at=now,
        person_id=user_id,
    )
    return Identity(
        user_id=user_id,
        appid="wx1",
        openid="o1",
        unionid=None,
        issued_at=now,
        expires_at=now,
        user=user,
    )


class TableVerifier:
    """``GOOD`` is valid, ``DOWN`` finds wxauth unreachable, anything else is invalid."""

    def __init__(self) -> None:
        self.closed = False
        self.seen: list[str] = []

    async def verify(self, token: str) -> Identity:
        self.seen.append(token)
        if token == GOOD:
            return identity()
        if token == DOWN:
            raise AuthUnavailable()
        raise InvalidToken()

    async def aclose(self) -> None:
        self.closed = True
