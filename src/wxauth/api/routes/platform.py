"""The third-party platform's endpoints: WeChat's pushes and the merchant's authorization.

``POST /v1/platform/{component_appid}/events`` is the "authorization event URL" of the
Open Platform console: WeChat pushes the component_verify_ticket every ten minutes and the
merchants' authorizations to it, and wants the plain text ``success``. A push that is not
signed by the platform's token, is stale, replayed or for another appid is refused (400)
and changes nothing.

``GET /v1/platform/{component_appid}/authorized`` is where the merchant's browser comes
back after authorizing (the ``redirect_uri`` of the authorization link): its ``auth_code``
registers the app at once, without waiting for the ``authorized`` push.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from wxauth.api.schemas import ErrorBody
from wxauth.api.state import api_state
from wxauth.errors import InvalidRequest, NotFound
from wxauth.platform import Platform

router = APIRouter(prefix="/v1/platform", tags=["platform"])


def platform_of(request: Request, component_appid: str) -> Platform:
    platform = api_state(request).wiring.platforms.get(component_appid)
    if platform is None:
        raise NotFound("No such platform.")
    return platform


@router.post(
    "/{component_appid}/events",
    response_class=PlainTextResponse,
    responses={
        400: {"model": ErrorBody, "description": "a refused push (signature, age, replay)"},
        404: {"model": ErrorBody, "description": "no such platform"},
    },
)
async def events(component_appid: str, request: Request) -> PlainTextResponse:
    """A push from WeChat's Open Platform; answers ``success`` once it is handled."""
    platform = platform_of(request, component_appid)
    q = request.query_params
    answer = await platform.receive(
        await request.body(),
        msg_signature=q.get("msg_signature", ""),
        timestamp=q.get("timestamp", ""),
        nonce=q.get("nonce", ""),
    )
    return PlainTextResponse(answer)


@router.get(
    "/{component_appid}/authorized",
    response_class=PlainTextResponse,
    responses={404: {"model": ErrorBody, "description": "no such platform"}},
)
async def authorized(
    component_appid: str, request: Request, auth_code: str = ""
) -> PlainTextResponse:
    """Where the merchant lands after authorizing: the app is registered from its code."""
    platform = platform_of(request, component_appid)
    if not auth_code or len(auth_code) > 512:
        raise InvalidRequest("The authorization answer carries no auth_code.")
    app = await platform.complete(auth_code)
    return PlainTextResponse(f"authorized: {app.appid} now logs in through this platform\n")
