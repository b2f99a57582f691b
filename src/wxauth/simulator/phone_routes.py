"""The phone's side of user data: what getUserProfile and the getPhoneNumber button give."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wxauth.core.profile import ANONYMOUS_NICKNAME, DEFAULT_AVATAR_URL
from wxauth.simulator.state import openid_for, unionid_for
from wxauth.simulator.wxa import phone_info
from wxauth.wechat.crypto import encrypt, raw_data_signature

if TYPE_CHECKING:
    from wxauth.simulator.app import Simulator


def anonymous_user_info() -> dict[str, Any]:
    """What WeChat gives today: the ``微信用户`` placeholder, no gender, no region."""
    return {
        "nickName": ANONYMOUS_NICKNAME,
        "gender": 0,
        "language": "",
        "city": "",
        "province": "",
        "country": "",
        "avatarUrl": DEFAULT_AVATAR_URL,
    }


def real_user_info(user: str) -> dict[str, Any]:
    """A filled-in profile, as WeChat gave before 2021."""
    mark = hashlib.sha256(f"avatar\0{user}".encode()).hexdigest()
    return {
        "nickName": f"{user} 🐼",
        "gender": 1,
        "language": "zh_CN",
        "city": "Guangzhou",
        "province": "Guangdong",
        "country": "China",
        "avatarUrl": f"https://thirdwx.qlogo.cn/mmopen/vi_32/{mark}/132",
    }


def _new_iv() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


class PhoneRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.state = sim.state

    async def user_info(self, request: Request) -> Response:
        args = await self.sim._phone_args(request)
        if isinstance(args, Response):
            return args
        appid, user = args
        key = self.state.current_key(appid, user)
        if key is None:
            return JSONResponse({"error": "call /sim/login first: no session_key"}, 409)
        body = await request.json()
        info = real_user_info(user) if body.get("real") is True else anonymous_user_info()
        raw_data = json.dumps(info, ensure_ascii=False, separators=(",", ":"))
        payload = {"openId": openid_for(appid, user), **info}
        if self.state.apps[appid].unionid:
            payload["unionId"] = unionid_for(user)
        payload["watermark"] = {"timestamp": int(self.state.clock()), "appid": appid}
        iv = _new_iv()
        return JSONResponse(
            {
                "userInfo": info,
                "rawData": raw_data,
                "signature": raw_data_signature(raw_data, key),
                "encryptedData": encrypt(key, payload, iv),
                "iv": iv,
                "errMsg": "getUserProfile:ok",
            }
        )

    async def phone_code(self, request: Request) -> Response:
        args = await self.sim._phone_args(request)
        if isinstance(args, Response):
            return args
        appid, user = args
        now = self.state.clock()
        answer: dict[str, Any] = {
            "code": self.state.wxa.issue_phone_code(appid, user, now),
            "errMsg": "getPhoneNumber:ok",
        }
        key = self.state.current_key(appid, user)
        if key is not None:  # the older way, encrypted under the current session_key
            iv = _new_iv()
            info = phone_info(*self.state.wxa.phone_of(user), appid, now)
            answer.update(encryptedData=encrypt(key, info, iv), iv=iv)
        return JSONResponse(answer)

    def routes(self) -> list[Route]:
        return [
            Route("/sim/user-info", self.user_info, methods=["POST"]),
            Route("/sim/phone-code", self.phone_code, methods=["POST"]),
        ]
