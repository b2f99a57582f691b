"""The simulator's token, phone-number and session_key paths, with WeChat's shapes."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wxauth.simulator.state import new_session_key
from wxauth.simulator.wxa import PHONE_CODE_TTL_S, TOKEN_OK, phone_info
from wxauth.wechat.crypto import session_signature

if TYPE_CHECKING:
    from wxauth.simulator.app import Simulator


def _error(errcode: int, errmsg: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": f"{errmsg}, rid: sim-{errcode}"})


_TOKEN_MESSAGES = {
    41001: "access_token missing",
    40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired",
}


class WxaRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.state = sim.state

    def _app_error(self, appid: Any, secret: Any, grant_type: Any) -> JSONResponse | None:
        app = self.state.apps.get(appid) if isinstance(appid, str) else None
        if app is None:
            return _error(40013, "invalid appid")
        if secret != app.secret:
            return _error(40125, "invalid appsecret")
        if grant_type != "client_credential":
            return _error(40002, "invalid grant_type")
        return None

    def _token_error(self, request: Request) -> tuple[JSONResponse | None, str | None]:
        token = request.query_params.get("access_token", "")
        errcode, appid = self.state.wxa.check(token, self.state.clock())
        if errcode != TOKEN_OK:
            return _error(errcode, _TOKEN_MESSAGES[errcode]), None
        return None, appid

    async def token(self, request: Request) -> Response:
        if (fault := await self.sim._faulted("/cgi-bin/token")) is not None:
            return fault
        q = request.query_params
        if error := self._app_error(q.get("appid"), q.get("secret"), q.get("grant_type")):
            return error
        token, expires_in = self.state.wxa.issue_classic(q["appid"], self.state.clock())
        return JSONResponse({"access_token": token, "expires_in": expires_in})

    async def stable_token(self, request: Request) -> Response:
        if (fault := await self.sim._faulted("/cgi-bin/stable_token")) is not None:
            return fault
        try:
            body = await request.json()
        except ValueError:
            return _error(47001, "data format error")
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        error = self._app_error(body.get("appid"), body.get("secret"), body.get("grant_type"))
        if error:
            return error
        force = body.get("force_refresh") is True
        token, expires_in = self.state.wxa.issue_stable(body["appid"], self.state.clock(), force)
        return JSONResponse({"access_token": token, "expires_in": expires_in})

    async def phone_number(self, request: Request) -> Response:
        if (fault := await self.sim._faulted("/wxa/business/getuserphonenumber")) is not None:
            return fault
        error, appid = self._token_error(request)
        if error:
            return error
        try:
            body = await request.json()
        except ValueError:
            return _error(47001, "data format error")
        code = body.get("code") if isinstance(body, dict) else None
        now = self.state.clock()
        grant = self.state.wxa.phone_codes.get(code) if isinstance(code, str) else None
        if grant is None or grant.appid != appid or now - grant.issued_at > PHONE_CODE_TTL_S:
            return _error(40029, "invalid code")
        if grant.used:
            return _error(40163, "code been used")
        openid = body.get("openid")
        if openid is not None and self.state.users_by_openid.get((grant.appid, openid)) != (
            grant.user
        ):
            return _error(40003, "invalid openid")
        grant.used = True
        country_code, number = self.state.wxa.phone_of(grant.user)
        info = phone_info(country_code, number, grant.appid, now)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "phone_info": info})

    def _session_check(self, request: Request) -> tuple[JSONResponse | None, tuple[str, str]]:
        error, appid = self._token_error(request)
        if error or appid is None:
            return error, ("", "")
        q = request.query_params
        if q.get("sig_method") != "hmac_sha256":
            return _error(87008, "invalid sig_method"), ("", "")
        user = self.state.users_by_openid.get((appid, q.get("openid", "")))
        key = self.state.current_key(appid, user) if user else None
        valid = key is not None and self.state.session_valid(appid, user or "")
        expected = session_signature(key) if key else ""
        if not valid or not hmac.compare_digest(expected, q.get("signature", "")):
            return _error(87009, "invalid signature"), ("", "")
        return None, (appid, user or "")

    async def check_session(self, request: Request) -> Response:
        if (fault := await self.sim._faulted("/wxa/checksession")) is not None:
            return fault
        error, _ = self._session_check(request)
        return error or JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def reset_session_key(self, request: Request) -> Response:
        if (fault := await self.sim._faulted("/wxa/resetusersessionkey")) is not None:
            return fault
        error, (appid, user) = self._session_check(request)
        if error:
            return error
        key = self.state.keys[(appid, user)]
        key.session_key = new_session_key()  # the new key keeps the old expiry
        openid = request.query_params["openid"]
        body = {"errcode": 0, "errmsg": "ok", "openid": openid, "session_key": key.session_key}
        return JSONResponse(body)

    def routes(self) -> list[Route]:
        return [
            Route("/cgi-bin/token", self.token, methods=["GET"]),
            Route("/cgi-bin/stable_token", self.stable_token, methods=["POST"]),
            Route("/wxa/business/getuserphonenumber", self.phone_number, methods=["POST"]),
            Route("/wxa/checksession", self.check_session, methods=["GET"]),
            Route("/wxa/resetusersessionkey", self.reset_session_key, methods=["GET"]),
        ]
