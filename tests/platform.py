"""A third-party platform in the simulator, and its event URL, for the Open Platform tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette

from tests.conftest import APPID, OTHER_APPID, OTHER_SECRET, SECRET
from wxauth.errors import ComponentMessageError
from wxauth.simulator import SimApp, SimPlatform, SimulatorState, create_simulator_app
from wxauth.wechat.component_crypto import MessageCrypto
from wxauth.wechat.component_push import ComponentEvent, MemoryReplayCache, PushVerifier

COMPONENT_APPID = "wxcomponent0000001"
COMPONENT_SECRET = "component-secret-0123456789abcdef"
COMPONENT_TOKEN = "platformtoken"
COMPONENT_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
PUSH_URL = "http://platform.test/wechat/component/events"
START = 1_700_000_000.0


class Receiver:
    """The platform's event URL: opens every push as a platform must, keeps what it got."""

    def __init__(self, now: list[float]) -> None:
        crypto = MessageCrypto(COMPONENT_TOKEN, COMPONENT_KEY, COMPONENT_APPID)
        self.verifier = PushVerifier(crypto, MemoryReplayCache())
        self.now = now
        self.events: list[ComponentEvent] = []
        self.refused: list[ComponentMessageError] = []
        self.requests: list[httpx.Request] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        q = request.url.params
        try:
            event = await self.verifier.open(
                request.content,
                msg_signature=q.get("msg_signature", ""),
                timestamp=q.get("timestamp", ""),
                nonce=q.get("nonce", ""),
                now=self.now[0],
            )
        except ComponentMessageError as exc:
            self.refused.append(exc)
            return httpx.Response(400, text="refused")
        self.events.append(event)
        return httpx.Response(200, text="success")

    def last(self, info_type: str) -> ComponentEvent:
        return [e for e in self.events if e.info_type == info_type][-1]


def platform(**overrides: Any) -> SimPlatform:
    values: dict[str, Any] = {
        "component_appid": COMPONENT_APPID,
        "secret": COMPONENT_SECRET,
        "token": COMPONENT_TOKEN,
        "encoding_aes_key": COMPONENT_KEY,
        "push_url": PUSH_URL,
        **overrides,
    }
    return SimPlatform(**values)


@dataclass
class World:
    """The simulator with one platform, its event URL, and a clock the test moves."""

    state: SimulatorState
    app: Starlette
    wechat: httpx.AsyncClient
    receiver: Receiver
    now: list[float] = field(default_factory=lambda: [START])

    def advance(self, seconds: float) -> None:
        self.now[0] += seconds

    async def sim(self, path: str, **body: Any) -> dict[str, Any]:
        answer = await self.wechat.post(path, json=body)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    async def ticket(self) -> str:
        pushed = await self.sim("/sim/component/push-ticket", component_appid=COMPONENT_APPID)
        ticket: str = pushed["ticket"]
        return ticket

    async def component_token(self) -> str:
        body = {
            "component_appid": COMPONENT_APPID,
            "component_appsecret": COMPONENT_SECRET,
            "component_verify_ticket": await self.ticket(),
        }
        answer = await self.wechat.post("/cgi-bin/component/api_component_token", json=body)
        token: str = answer.json()["component_access_token"]
        return token

    async def preauth_code(self, token: str) -> str:
        answer = await self.wechat.post(
            "/cgi-bin/component/api_create_preauthcode",
            params={"component_access_token": token},
            json={"component_appid": COMPONENT_APPID},
        )
        code: str = answer.json()["pre_auth_code"]
        return code

    async def authorize(self, token: str, appid: str = APPID, **extra: Any) -> dict[str, Any]:
        return await self.sim(
            "/sim/component/authorize",
            component_appid=COMPONENT_APPID,
            appid=appid,
            pre_auth_code=await self.preauth_code(token),
            **extra,
        )

    async def login_code(self, user: str = "alice", appid: str = APPID) -> str:
        answer = await self.sim("/sim/login", appid=appid, user=user)
        code: str = answer["code"]
        return code


def make_world(**platform_overrides: Any) -> World:
    now = [START]
    receiver = Receiver(now)
    state = SimulatorState(
        [SimApp(APPID, SECRET), SimApp(OTHER_APPID, OTHER_SECRET)],
        clock=lambda: now[0],
        platforms=[platform(**platform_overrides)],
        push_transport=httpx.MockTransport(receiver.handle),
    )
    app = create_simulator_app(state)
    wechat = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://wechat.test"
    )
    return World(state, app, wechat, receiver, now)
