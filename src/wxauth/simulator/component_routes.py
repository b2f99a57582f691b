"""The simulator's Open Platform paths, with WeChat's shapes and errcodes, and the merchant's
side of the authorization under /sim/component/."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wxauth.simulator.component import (
    AUTH_CODE_TTL_S,
    DEFAULT_FUNC_INFO,
    OK,
    ComponentState,
    SimPlatform,
)
from wxauth.simulator.platform_push import push, push_ticket
from wxauth.simulator.state import CODE_TTL_S, SimApp, openid_for, unionid_for
from wxauth.wechat.component import (
    AUTHORIZER_TOKEN_PATH,
    COMPONENT_CODE2SESSION_PATH,
    COMPONENT_TOKEN_PATH,
    PREAUTH_CODE_PATH,
    QUERY_AUTH_PATH,
)
from wxauth.wechat.component_push import AUTHORIZED, UNAUTHORIZED, UPDATE_AUTHORIZED

if TYPE_CHECKING:
    from wxauth.simulator.app import Simulator

_MESSAGES = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41008: "missing code",
    41018: "missing component_appid",
    42001: "access_token expired",
    47001: "data format error",
    61003: "component is not authorized by this account",
    61004: "access clientip is not registered",
    61005: "component ticket is expired",
    61006: "component ticket is invalid",
    61009: "code is invalid",
    61010: "code is expired",
    61023: "refresh_token is invalid",
}


def _error(errcode: int) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": f"{_MESSAGES[errcode]}, rid: sim-{errcode}"})


def _sim_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _func_info(ids: tuple[int, ...]) -> list[dict[str, Any]]:
    return [{"funcscope_category": {"id": i}} for i in ids]


class ComponentRoutes:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.state = sim.state
        self.component: ComponentState = sim.state.component

    # -- checks shared by the platform APIs ------------------------------------------------

    @staticmethod
    def _ip_error(request: Request, platform: SimPlatform) -> JSONResponse | None:
        host = request.client.host if request.client else ""
        if platform.allowed_ips and host not in platform.allowed_ips:
            return _error(61004)
        return None

    def _caller(self, request: Request) -> JSONResponse | SimPlatform:
        """The platform whose component_access_token the request carries (newer docs call
        the parameter ``access_token``: both are taken)."""
        q = request.query_params
        token = q.get("component_access_token") or q.get("access_token", "")
        errcode, appid = self.component.check_token(token, self.state.clock())
        if errcode != OK or appid is None:
            return _error(errcode)
        platform = self.component.platforms[appid]
        return self._ip_error(request, platform) or platform

    @staticmethod
    def _appid_error(component_appid: Any, platform: SimPlatform) -> JSONResponse | None:
        if not isinstance(component_appid, str) or not component_appid:
            return _error(41018)
        if component_appid != platform.component_appid:
            return _error(40013)
        return None

    async def _call(self, request: Request) -> tuple[SimPlatform, dict[str, Any]] | Response:
        caller = self._caller(request)
        if isinstance(caller, Response):
            return caller
        body = await _body(request)
        if body is None:
            return _error(47001)
        return self._appid_error(body.get("component_appid"), caller) or (caller, body)

    # -- WeChat's platform APIs ------------------------------------------------------------

    async def component_token(self, request: Request) -> Response:
        if (fault := await self.sim._faulted(COMPONENT_TOKEN_PATH)) is not None:
            return fault
        body = await _body(request)
        if body is None:
            return _error(47001)
        appid = body.get("component_appid")
        if not isinstance(appid, str) or not appid:
            return _error(41018)
        platform = self.component.platforms.get(appid)
        if platform is None:
            return _error(40013)
        if error := self._ip_error(request, platform):
            return error
        if body.get("component_appsecret") != platform.secret:
            return _error(40125)
        ticket = body.get("component_verify_ticket")
        now = self.state.clock()
        errcode = self.component.check_ticket(appid, ticket if isinstance(ticket, str) else "", now)
        if errcode != OK:
            return _error(errcode)
        token, expires_in = self.component.issue_token(appid, now)
        return JSONResponse({"component_access_token": token, "expires_in": expires_in})

    async def create_preauth_code(self, request: Request) -> Response:
        if (fault := await self.sim._faulted(PREAUTH_CODE_PATH)) is not None:
            return fault
        call = await self._call(request)
        if isinstance(call, Response):
            return call
        platform, _ = call
        code, expires_in = self.component.issue_preauth_code(
            platform.component_appid, self.state.clock()
        )
        return JSONResponse({"pre_auth_code": code, "expires_in": expires_in})

    async def query_auth(self, request: Request) -> Response:
        if (fault := await self.sim._faulted(QUERY_AUTH_PATH)) is not None:
            return fault
        call = await self._call(request)
        if isinstance(call, Response):
            return call
        platform, body = call
        code = body.get("authorization_code")
        now = self.state.clock()
        errcode, found = self.component.redeem_auth_code(
            platform.component_appid, code if isinstance(code, str) else "", now
        )
        if errcode != OK or found is None:
            return _error(errcode)
        token, expires_in = self.component.issue_authorizer_token(found, now)
        info = {
            "authorizer_appid": found.authorizer_appid,
            "authorizer_access_token": token,
            "expires_in": expires_in,
            "authorizer_refresh_token": found.refresh_token,
            "func_info": _func_info(found.func_info),
        }
        return JSONResponse({"authorization_info": info})

    async def authorizer_token(self, request: Request) -> Response:
        if (fault := await self.sim._faulted(AUTHORIZER_TOKEN_PATH)) is not None:
            return fault
        call = await self._call(request)
        if isinstance(call, Response):
            return call
        platform, body = call
        authorizer = body.get("authorizer_appid")
        found = (
            self.component.authorization(platform.component_appid, authorizer)
            if isinstance(authorizer, str)
            else None
        )
        if found is None:
            return _error(61003)
        if body.get("authorizer_refresh_token") != found.refresh_token:
            return _error(61023)
        token, expires_in = self.component.issue_authorizer_token(found, self.state.clock())
        return JSONResponse(
            {
                "authorizer_access_token": token,
                "expires_in": expires_in,
                "authorizer_refresh_token": found.refresh_token,
            }
        )

    async def jscode2session(self, request: Request) -> Response:
        if (fault := await self.sim._faulted(COMPONENT_CODE2SESSION_PATH)) is not None:
            return fault
        caller = self._caller(request)
        if isinstance(caller, Response):
            return caller
        q = request.query_params
        if error := self._appid_error(q.get("component_appid"), caller):
            return error
        if q.get("grant_type") != "authorization_code":
            return _error(40002)
        appid, code = q.get("appid", ""), q.get("js_code", "")
        app = self.state.apps.get(appid)
        if app is None:
            return _error(40013)
        if self.component.authorization(caller.component_appid, appid) is None:
            return _error(61003)
        if not code:
            return _error(41008)
        grant = self.state.codes.get(code)
        if grant is None or grant.appid != appid:
            return _error(40029)
        if self.state.clock() - grant.issued_at > CODE_TTL_S:
            return _error(40029)
        if grant.used:
            return _error(40163)
        grant.used = True
        answer: dict[str, Any] = {
            "session_key": grant.session_key,
            "openid": openid_for(appid, grant.user),
        }
        if app.unionid:
            answer["unionid"] = unionid_for(grant.user)
        return JSONResponse(answer)

    # -- the merchant and the platform's console, under /sim/component/ ---------------------

    async def _sim_args(
        self, request: Request, *keys: str
    ) -> tuple[SimPlatform, dict[str, Any]] | Response:
        body = await _body(request)
        if body is None:
            return _sim_error("body must be a JSON object")
        missing = [k for k in ("component_appid", *keys) if not isinstance(body.get(k), str)]
        if missing:
            return _sim_error(f"give {', '.join(repr(k) for k in missing)} as strings")
        platform = self.component.platforms.get(body["component_appid"])
        if platform is None:
            return _sim_error(f"unknown component_appid {body['component_appid']!r}", 404)
        return platform, body

    @staticmethod
    def _granted(body: dict[str, Any]) -> tuple[int, ...] | None:
        ids = body.get("func_info", list(DEFAULT_FUNC_INFO))
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            return None
        return tuple(ids)

    async def push_ticket_now(self, request: Request) -> Response:
        args = await self._sim_args(request)
        if isinstance(args, Response):
            return args
        platform, _ = args
        ticket, outcome = await push_ticket(self.component, platform, self.state.clock())
        return JSONResponse({"ticket": ticket, "push": outcome.as_json()})

    async def _authorized(
        self, platform: SimPlatform, appid: str, func_info: tuple[int, ...], *, rotate: bool
    ) -> tuple[str, dict[str, Any]]:
        now = self.state.clock()
        code, update = self.component.authorize(
            platform.component_appid, appid, func_info, now, rotate=rotate
        )
        fields: dict[str, str | int] = {
            "InfoType": UPDATE_AUTHORIZED if update else AUTHORIZED,
            "AuthorizerAppid": appid,
            "AuthorizationCode": code,
            "AuthorizationCodeExpiredTime": int(now) + AUTH_CODE_TTL_S,
        }
        return code, {
            "info_type": fields["InfoType"],
            "push": (await push(self.component, platform, fields, now)).as_json(),
        }

    async def authorize(self, request: Request) -> Response:
        """The merchant scans the authorization page for their mini program ``appid``."""
        args = await self._sim_args(request, "appid", "pre_auth_code")
        if isinstance(args, Response):
            return args
        platform, body = args
        now = self.state.clock()
        if not self.component.preauth_code_valid(
            platform.component_appid, body["pre_auth_code"], now
        ):
            return _sim_error("pre_auth_code is invalid or expired")
        func_info = self._granted(body)
        if func_info is None:
            return _sim_error('"func_info" is a list of permission-set ids')
        appid = body["appid"]
        if appid not in self.state.apps:  # a merchant's app the simulator had not met
            self.state.apps[appid] = SimApp(appid, secrets.token_hex(16))
        code, report = await self._authorized(platform, appid, func_info, rotate=True)
        answer: dict[str, Any] = {"auth_code": code, "expires_in": AUTH_CODE_TTL_S, **report}
        redirect_uri = body.get("redirect_uri")
        if isinstance(redirect_uri, str) and redirect_uri:
            sep = "&" if "?" in redirect_uri else "?"
            query = urlencode({"auth_code": code, "expires_in": AUTH_CODE_TTL_S})
            answer["redirect"] = f"{redirect_uri}{sep}{query}"
        return JSONResponse(answer)

    async def update_authorization(self, request: Request) -> Response:
        """The merchant changes the permissions granted; the refresh token stays."""
        args = await self._sim_args(request, "appid")
        if isinstance(args, Response):
            return args
        platform, body = args
        if self.component.authorization(platform.component_appid, body["appid"]) is None:
            return _sim_error("that app is not authorized to the platform", 404)
        func_info = self._granted(body)
        if func_info is None:
            return _sim_error('"func_info" is a list of permission-set ids')
        code, report = await self._authorized(platform, body["appid"], func_info, rotate=False)
        return JSONResponse({"auth_code": code, "expires_in": AUTH_CODE_TTL_S, **report})

    async def unauthorize(self, request: Request) -> Response:
        """The merchant withdraws the authorization."""
        args = await self._sim_args(request, "appid")
        if isinstance(args, Response):
            return args
        platform, body = args
        if not self.component.unauthorize(platform.component_appid, body["appid"]):
            return _sim_error("that app is not authorized to the platform", 404)
        fields: dict[str, str | int] = {"InfoType": UNAUTHORIZED, "AuthorizerAppid": body["appid"]}
        outcome = await push(self.component, platform, fields, self.state.clock())
        return JSONResponse({"info_type": UNAUTHORIZED, "push": outcome.as_json()})

    def routes(self) -> list[Route]:
        return [
            Route(COMPONENT_TOKEN_PATH, self.component_token, methods=["POST"]),
            Route(PREAUTH_CODE_PATH, self.create_preauth_code, methods=["POST"]),
            Route(QUERY_AUTH_PATH, self.query_auth, methods=["POST"]),
            Route(AUTHORIZER_TOKEN_PATH, self.authorizer_token, methods=["POST"]),
            Route(COMPONENT_CODE2SESSION_PATH, self.jscode2session, methods=["GET"]),
            Route("/sim/component/push-ticket", self.push_ticket_now, methods=["POST"]),
            Route("/sim/component/authorize", self.authorize, methods=["POST"]),
            Route(
                "/sim/component/update-authorization", self.update_authorization, methods=["POST"]
            ),
            Route("/sim/component/unauthorize", self.unauthorize, methods=["POST"]),
        ]
