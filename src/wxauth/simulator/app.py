"""The simulator as an ASGI app: WeChat's server paths at the root, the phone under /sim/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from wxauth.simulator.component_routes import ComponentRoutes
from wxauth.simulator.phone_routes import PhoneRoutes
from wxauth.simulator.platform_push import TicketTimer
from wxauth.simulator.state import (
    CODE_TTL_S,
    FaultRule,
    SimulatorState,
    openid_for,
    unionid_for,
)
from wxauth.simulator.wxa_routes import WxaRoutes

HANG_S = 600.0  # a "timeout" fault hangs past any sane client timeout


def wechat_error(errcode: int, errmsg: str) -> JSONResponse:
    # WeChat answers failures with HTTP 200 and a rid at the end of errmsg.
    return JSONResponse({"errcode": errcode, "errmsg": f"{errmsg}, rid: sim-{errcode}"})


def sim_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class SimulatedDrop(ConnectionResetError):
    """Raised once the response has started, so the server closes the connection."""


class DroppedConnection(Response):
    """Starts an answer, then breaks off: under uvicorn the connection is closed mid-response
    (the client sees the peer hang up); in-process (``httpx.ASGITransport``) the error comes
    out of the transport, as a reset connection would."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"errc', "more_body": True})
        raise SimulatedDrop("simulated dropped connection")


class Simulator:
    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    async def _faulted(self, path: str) -> Response | None:
        """Count the call and apply the fault rules that fire for it."""
        self.state.calls[path] += 1
        for rule in self.state.pick_fault(path):
            if rule.latency_ms:
                await asyncio.sleep(rule.latency_ms / 1000)
            if rule.timeout:
                await asyncio.sleep(HANG_S)
            if rule.drop:
                return DroppedConnection()
            if rule.errcode is not None:
                return wechat_error(rule.errcode, "simulated fault")
        return None

    # -- WeChat's server side -------------------------------------------------------------

    async def jscode2session(self, request: Request) -> Response:
        if (fault := await self._faulted("/sns/jscode2session")) is not None:
            return fault
        q = request.query_params
        appid, secret, code = q.get("appid", ""), q.get("secret", ""), q.get("js_code", "")
        app = self.state.apps.get(appid)
        if app is None:
            return wechat_error(40013, "invalid appid")
        if secret != app.secret:
            return wechat_error(40125, "invalid appsecret")
        if q.get("grant_type") != "authorization_code":
            return wechat_error(40002, "invalid grant_type")
        if not code:
            return wechat_error(41008, "missing code")
        grant = self.state.codes.get(code)
        if grant is None or grant.appid != appid:
            return wechat_error(40029, "invalid code")
        if self.state.clock() - grant.issued_at > CODE_TTL_S:
            return wechat_error(40029, "invalid code")
        if grant.used:
            return wechat_error(40163, "code been used")
        grant.used = True
        body: dict[str, Any] = {
            "session_key": grant.session_key,
            "openid": openid_for(appid, grant.user),
        }
        if app.unionid:
            body["unionid"] = unionid_for(grant.user)
        if self.state.echo_ok:
            body.update(errcode=0, errmsg="ok")
        return JSONResponse(body)

    # -- the phone ------------------------------------------------------------------------

    async def _phone_args(self, request: Request) -> tuple[str, str] | JSONResponse:
        try:
            data = await request.json()
        except ValueError:
            return sim_error("body must be JSON")
        if not isinstance(data, dict):
            return sim_error("body must be a JSON object")
        appid, user = data.get("appid"), data.get("user")
        if not isinstance(appid, str) or not isinstance(user, str) or not user:
            return sim_error('give "appid" and "user" as strings')
        if appid not in self.state.apps:
            return sim_error(f"unknown appid {appid!r}", 404)
        return appid, user

    async def login(self, request: Request) -> Response:
        args = await self._phone_args(request)
        if isinstance(args, Response):
            return args
        return JSONResponse({"code": self.state.issue_code(*args), "errMsg": "login:ok"})

    async def check_session(self, request: Request) -> Response:
        args = await self._phone_args(request)
        if isinstance(args, Response):
            return args
        valid = self.state.session_valid(*args)
        msg = "checkSession:ok" if valid else "checkSession:fail session time out, need relogin"
        return JSONResponse({"valid": valid, "errMsg": msg})

    async def expire_session(self, request: Request) -> Response:
        args = await self._phone_args(request)
        if isinstance(args, Response):
            return args
        self.state.expire_session(*args)
        return JSONResponse({"ok": True})

    async def stats(self, _request: Request) -> Response:
        return JSONResponse({"calls": dict(self.state.calls)})

    async def reset_stats(self, _request: Request) -> Response:
        self.state.calls.clear()
        return JSONResponse({"calls": {}})

    async def add_fault(self, request: Request) -> Response:
        try:
            rule = FaultRule.from_json(await request.json())
        except (ValueError, TypeError) as exc:
            return sim_error(f"bad fault rule: {exc}")
        self.state.faults.append(rule)
        return JSONResponse({"faults": len(self.state.faults)})

    async def clear_faults(self, _request: Request) -> Response:
        self.state.faults.clear()
        return JSONResponse({"faults": 0})

    def routes(self) -> list[Route]:
        return [
            Route("/sns/jscode2session", self.jscode2session, methods=["GET"]),
            Route("/sim/login", self.login, methods=["POST"]),
            Route("/sim/check-session", self.check_session, methods=["POST"]),
            Route("/sim/expire-session", self.expire_session, methods=["POST"]),
            Route("/sim/stats", self.stats, methods=["GET"]),
            Route("/sim/stats/reset", self.reset_stats, methods=["POST"]),
            Route("/sim/faults", self.add_fault, methods=["POST"]),
            Route("/sim/faults", self.clear_faults, methods=["DELETE"]),
            *WxaRoutes(self).routes(),
            *PhoneRoutes(self).routes(),
            *ComponentRoutes(self).routes(),
        ]


def create_simulator_app(state: SimulatorState) -> Starlette:
    """The simulator as a Starlette app (serve it, or call it in-process via ASGITransport)."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Served on its own, the simulator pushes tickets to platforms with a push URL.
        async with TicketTimer(state.component, state.clock):
            yield

    app = Starlette(routes=Simulator(state).routes(), lifespan=lifespan)
    app.state.simulator = state
    return app


SIMULATOR_PREFIXES = ("/sim/", "/sns/", "/cgi-bin/", "/wxa/")


def beside(api: ASGIApp, simulator: ASGIApp) -> ASGIApp:
    """One ASGI app serving the simulator's paths and, for everything else, the API.

    Lifespan events go to the API, which owns the resources.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(SIMULATOR_PREFIXES):
            await simulator(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app
