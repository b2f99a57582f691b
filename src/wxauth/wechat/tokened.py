"""WeChat's token-needing APIs with the access_token handled: what the core calls."""

from __future__ import annotations

from typing import Any

from wxauth.wechat.access_token import AccessTokens
from wxauth.wechat.server_api import ServerApi


class TokenedApi:
    """Each call gets a token from :class:`AccessTokens` and is retried once if refused."""

    def __init__(self, api: ServerApi, tokens: AccessTokens) -> None:
        self.api = api
        self.tokens = tokens

    def __repr__(self) -> str:
        return f"TokenedApi({self.tokens!r})"

    async def phone_number(self, appid: str, code: str, openid: str) -> dict[str, Any]:
        return await self.tokens.call(
            appid, lambda token: self.api.user_phone_number(token, code, openid)
        )

    async def check_session_key(self, appid: str, openid: str, session_key: str) -> bool:
        return await self.tokens.call(
            appid, lambda token: self.api.check_session_key(token, openid, session_key)
        )
