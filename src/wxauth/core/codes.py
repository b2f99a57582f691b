"""One login code, one exchange with WeChat, across every process that serves.

:class:`~wxauth.core.service.WxAuth` already refuses a code that is being exchanged in the
same process. When a retried request lands on another process, :class:`WeChatWithCodeGuard`
asks a shared :class:`CodeGuard` first: whoever claims the code first exchanges it, the
others answer ``invalid_code`` without calling WeChat.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from wxauth.core.ports import WeChatGateway, WeChatSessionLike
from wxauth.errors import InvalidCode, WeChatUnavailable

CODE_CLAIM_TTL_S = 300  # a wx.login code lives five minutes


def code_fingerprint(appid: str, code: str) -> str:
    """What a guard stores instead of the code itself."""
    return hashlib.sha256(f"{appid}\0{code}".encode()).hexdigest()


class CodeGuard(Protocol):
    async def claim(self, appid: str, code: str) -> bool:
        """True for the first claim of (appid, code) within :data:`CODE_CLAIM_TTL_S`."""
        ...

    async def release(self, appid: str, code: str) -> None:
        """Give the code back (WeChat may not have seen it)."""
        ...


class WeChatWithCodeGuard:
    """A :class:`~wxauth.core.ports.WeChatGateway` whose ``code2session`` claims the code
    first."""

    def __init__(self, wechat: WeChatGateway, guard: CodeGuard) -> None:
        self.wechat = wechat
        self.guard = guard

    def __repr__(self) -> str:
        return f"WeChatWithCodeGuard({self.wechat!r})"

    async def code2session(self, appid: str, secret: str, code: str) -> WeChatSessionLike:
        if not await self.guard.claim(appid, code):
            raise InvalidCode("This login code is already being used; call wx.login again.")
        try:
            return await self.wechat.code2session(appid, secret, code)
        except WeChatUnavailable:
            # Unanswered or refused while busy: a retry with the same code may still work.
            await self.guard.release(appid, code)
            raise
