"""WeChat's access_token for the app's other backends: wxauth's own cached token, relayed.

A second fetch from WeChat would invalidate the token every other holder uses (with
``/cgi-bin/token``; and ``stable_token``'s ``force_refresh`` is limited to 20 a day), so
backends ask wxauth instead of WeChat. A token is fetched only when the cached one is near
its expiry, by one process at a time (through Redis when there are several).

A caller whose call WeChat refused with 40001 / 42001 sends that token back to
``POST /v1/wechat/access-token/refresh``: only when it is still the cached one is it dropped
and a new one got; otherwise the caller gets the newer token someone else already fetched.
Refreshes are limited per app (``WXAUTH_RATE_LIMIT_ACCESS_TOKEN_REFRESH`` per window).
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from wxauth.api.deps import StateDep
from wxauth.api.schemas import ErrorBody, Strict
from wxauth.api.service_keys import ServiceKeyDep, require_scope
from wxauth.config import SCOPE_ACCESS_TOKEN
from wxauth.wechat.access_token import CachedToken

router = APIRouter(prefix="/v1/wechat", tags=["integrations"])

REFRESHES = "access-token-refresh"
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "an appid this server is not configured for"},
    422: {"model": ErrorBody, "description": "no appid, or a malformed body"},
    401: {"model": ErrorBody, "description": "the service key is missing or wrong"},
    403: {"model": ErrorBody, "description": "the service key may not have this app's token"},
    429: {"model": ErrorBody, "description": "too many refreshes, or wrong service keys"},
}


class WeChatAccessToken(BaseModel):
    access_token: str
    expires_in: int  # seconds until WeChat stops accepting it


class RefreshRequest(Strict):
    appid: str
    rejected_token: str = Field(min_length=1, max_length=512)


def answer(cached: CachedToken, response: Response) -> WeChatAccessToken:
    response.headers["Cache-Control"] = "no-store"
    left = max(0, math.floor(cached.expires_at - time.time()))
    return WeChatAccessToken(access_token=cached.token, expires_in=left)


@router.get("/access-token", responses=ERRORS)
async def access_token(
    appid: Annotated[str, Query(max_length=64)],
    response: Response,
    state: StateDep,
    key: ServiceKeyDep,
) -> WeChatAccessToken:
    """The app's current WeChat access_token (never a fetch that invalidates it)."""
    require_scope(key, SCOPE_ACCESS_TOKEN, appid)
    return answer(await state.wiring.tokened_api.tokens.current(appid), response)


@router.post("/access-token/refresh", responses=ERRORS)
async def refresh(
    body: RefreshRequest, response: Response, state: StateDep, key: ServiceKeyDep
) -> WeChatAccessToken:
    """WeChat refused ``rejected_token``: a new token if it is still the cached one, else the
    newer one already cached."""
    require_scope(key, SCOPE_ACCESS_TOKEN, body.appid)
    tokens = state.wiring.tokened_api.tokens
    cached = await tokens.current(body.appid)
    if hmac.compare_digest(cached.token.encode(), body.rejected_token.encode()):
        limit = state.settings.rate_limit_access_token_refresh
        await state.limiter.hit(REFRESHES, body.appid, limit)
        await tokens.discard(body.appid, cached.token)
        cached = await tokens.current(body.appid)
    return answer(cached, response)
