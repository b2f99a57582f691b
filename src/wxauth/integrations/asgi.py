"""Any ASGI app (Starlette, Litestar, Quart, ...): a middleware that checks the bearer token
and puts the :class:`~wxauth.integrations.identity.Identity` on ``request.state.wxauth_user``
(``scope["state"]["wxauth_user"]``).

Without a token the user is ``None`` and the request goes on (unless ``required``); a token
that is sent but not valid answers 401 ``invalid_token`` as the wxauth API does, so the
mini program logs in again instead of silently acting anonymous.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from wxauth.errors import InvalidToken, WxAuthError
from wxauth.integrations.identity import Identity, Refusal, TokenVerifier, bearer_token

STATE_KEY = "wxauth_user"


class WxAuthMiddleware:
    def __init__(self, app: ASGIApp, *, verifier: TokenVerifier, required: bool = False) -> None:
        self.app = app
        self.verifier = verifier
        self.required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            identity = await self._identify(scope)
        except WxAuthError as exc:
            refusal = Refusal.of(exc, _request_id(scope))
            response = JSONResponse(refusal.body, refusal.status, headers=refusal.headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = identity
        await self.app(scope, receive, send)

    async def _identify(self, scope: Scope) -> Identity | None:
        token = bearer_token(Headers(scope=scope).get("authorization"))
        if token is None:
            if self.required:
                raise InvalidToken()
            return None
        return await self.verifier.verify(token)


def _request_id(scope: Scope) -> str | None:
    value = scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None
