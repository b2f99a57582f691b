"""The Open Platform client against the simulator, in-process."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import APPID, OTHER_APPID
from tests.platform import COMPONENT_APPID, COMPONENT_SECRET, World, make_world
from wxauth.errors import (
    AppDisabled,
    AuthorizationWithdrawn,
    ComponentTokenRejected,
    InvalidCode,
    ServerMisconfigured,
    VerifyTicketRejected,
    WeChatError,
    WeChatUnavailable,
    WxAuthError,
)
from wxauth.simulator.state import FaultRule, openid_for, unionid_for
from wxauth.wechat.client import WeChatClient, errcode_of
from wxauth.wechat.component import (
    AUTHORIZER_TOKEN_PATH,
    COMPONENT_CODE2SESSION_PATH,
    Authorization,
    ComponentApi,
    login_page_url,
)


@dataclass
class Platform:
    world: World
    api: ComponentApi
    client: WeChatClient

    async def token(self) -> str:
        ticket = await self.world.ticket()
        fetched = await self.api.component_token(COMPONENT_APPID, COMPONENT_SECRET, ticket)
        return fetched.token

    async def authorization(self, appid: str = APPID) -> tuple[str, Authorization]:
        token = await self.token()
        preauth = await self.api.create_preauth_code(COMPONENT_APPID, token)
        answer = await self.world.sim(
            "/sim/component/authorize",
            component_appid=COMPONENT_APPID,
            appid=appid,
            pre_auth_code=preauth.code,
        )
        return token, await self.api.query_auth(COMPONENT_APPID, token, answer["auth_code"])


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    world = make_world()
    transport = httpx.ASGITransport(app=world.app)
    client = WeChatClient("http://wechat.test", transport=transport)
    yield Platform(world, ComponentApi(client), client)
    await client.aclose()
    await world.wechat.aclose()


class Draws(random.Random):
    """Fault draws from a list: 0.0 fires a rule, anything after the list does not."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = values

    def random(self) -> float:
        return self.values.pop(0) if self.values else 0.99


async def test_the_whole_flow(platform: Platform) -> None:
    ticket = await platform.world.ticket()
    fetched = await platform.api.component_token(COMPONENT_APPID, COMPONENT_SECRET, ticket)
    assert fetched.expires_in == 7200 and fetched.token not in repr(fetched)
    preauth = await platform.api.create_preauth_code(COMPONENT_APPID, fetched.token)
    assert preauth.expires_in == 1800 and preauth.code not in repr(preauth)

    answer = await platform.world.sim(
        "/sim/component/authorize",
        component_appid=COMPONENT_APPID,
        appid=APPID,
        pre_auth_code=preauth.code,
        func_info=[17, 18, 19],
    )
    auth = await platform.api.query_auth(COMPONENT_APPID, fetched.token, answer["auth_code"])
    assert auth.authorizer_appid == APPID and auth.expires_in == 7200
    assert auth.func_info == (17, 18, 19)
    assert auth.access_token not in repr(auth) and auth.refresh_token not in repr(auth)

    refreshed = await platform.api.authorizer_token(
        COMPONENT_APPID, fetched.token, APPID, auth.refresh_token
    )
    assert refreshed.refresh_token == auth.refresh_token
    assert refreshed.access_token != auth.access_token
    assert refreshed.access_token not in repr(refreshed)

    code = await platform.world.login_code()
    session = await platform.api.code2session(COMPONENT_APPID, fetched.token, APPID, code)
    assert session.openid == openid_for(APPID, "alice")
    assert session.unionid == unionid_for("alice")
    assert session.session_key == platform.world.state.current_key(APPID, "alice")


async def test_ticket_errors_are_misconfiguration(platform: Platform) -> None:
    with pytest.raises(VerifyTicketRejected) as invalid:
        await platform.api.component_token(COMPONENT_APPID, COMPONENT_SECRET, "ticket@@@forged")
    assert invalid.value.wechat_errcode == 61006 and invalid.value.status == 500
    ticket = await platform.world.ticket()
    platform.world.advance(12 * 3600 + 1)
    with pytest.raises(VerifyTicketRejected) as expired:
        await platform.api.component_token(COMPONENT_APPID, COMPONENT_SECRET, ticket)
    assert expired.value.wechat_errcode == 61005
    assert isinstance(expired.value, ServerMisconfigured)


@pytest.mark.parametrize(
    ("appid", "secret", "expected"),
    [("wxnobody", COMPONENT_SECRET, 40013), (COMPONENT_APPID, "x", 40125)],
)
async def test_wrong_platform_credentials(
    platform: Platform, appid: str, secret: str, expected: int
) -> None:
    ticket = await platform.world.ticket()
    with pytest.raises(ServerMisconfigured) as caught:
        await platform.api.component_token(appid, secret, ticket)
    assert caught.value.wechat_errcode == expected


async def test_token_rejections(platform: Platform) -> None:
    with pytest.raises(ComponentTokenRejected) as invalid:
        await platform.api.create_preauth_code(COMPONENT_APPID, "sim_cat_forged")
    assert invalid.value.wechat_errcode == 40001
    token = await platform.token()
    platform.world.advance(7200)
    with pytest.raises(ComponentTokenRejected) as expired:
        await platform.api.create_preauth_code(COMPONENT_APPID, token)
    assert expired.value.wechat_errcode == 42001
    with pytest.raises(WeChatError) as missing:
        await platform.api.create_preauth_code(COMPONENT_APPID, "")
    assert missing.value.wechat_errcode == 41001
    assert not isinstance(missing.value, ComponentTokenRejected)


async def test_authorization_code_errors(platform: Platform) -> None:
    token, _ = await platform.authorization()
    with pytest.raises(InvalidCode) as caught:
        await platform.api.query_auth(COMPONENT_APPID, token, "queryauthcode@@@forged")
    assert caught.value.wechat_errcode == 61009


async def test_withdrawn_authorization(platform: Platform) -> None:
    token, auth = await platform.authorization()
    await platform.world.sim(
        "/sim/component/unauthorize", component_appid=COMPONENT_APPID, appid=APPID
    )
    with pytest.raises(AuthorizationWithdrawn) as refresh:
        await platform.api.authorizer_token(COMPONENT_APPID, token, APPID, auth.refresh_token)
    assert refresh.value.status == 403 and refresh.value.code == "app_disabled"
    code = await platform.world.login_code()
    with pytest.raises(AuthorizationWithdrawn) as login:
        await platform.api.code2session(COMPONENT_APPID, token, APPID, code)
    assert login.value.wechat_errcode == 61003


async def test_replaced_refresh_token(platform: Platform) -> None:
    token, first = await platform.authorization()
    await platform.authorization()  # the merchant authorizes again
    with pytest.raises(AuthorizationWithdrawn) as caught:
        await platform.api.authorizer_token(COMPONENT_APPID, token, APPID, first.refresh_token)
    assert caught.value.wechat_errcode == 61023


async def test_login_codes(platform: Platform) -> None:
    token, _ = await platform.authorization()
    code = await platform.world.login_code()
    await platform.api.code2session(COMPONENT_APPID, token, APPID, code)
    with pytest.raises(InvalidCode) as used:
        await platform.api.code2session(COMPONENT_APPID, token, APPID, code)
    assert used.value.wechat_errcode == 40163
    with pytest.raises(InvalidCode) as invalid:
        await platform.api.code2session(COMPONENT_APPID, token, APPID, "forged")
    assert invalid.value.wechat_errcode == 40029
    with pytest.raises(AuthorizationWithdrawn):  # OTHER_APPID never authorized the platform
        code = await platform.world.login_code(appid=OTHER_APPID)
        await platform.api.code2session(COMPONENT_APPID, token, OTHER_APPID, code)


async def test_login_retries_system_busy_once(platform: Platform) -> None:
    token, _ = await platform.authorization()
    state = platform.world.state
    state.faults.append(FaultRule(rate=0.5, path=COMPONENT_CODE2SESSION_PATH, errcode=-1))
    state.rng = Draws([0.0])  # the first call is busy, the retry is not
    code = await platform.world.login_code()
    session = await platform.api.code2session(COMPONENT_APPID, token, APPID, code)
    assert session.openid == openid_for(APPID, "alice")
    state.rng = Draws([0.0, 0.0])
    with pytest.raises(WeChatUnavailable):
        await platform.api.code2session(
            COMPONENT_APPID, token, APPID, await platform.world.login_code()
        )


@pytest.mark.parametrize(
    ("errcode", "error"),
    [
        (61004, ServerMisconfigured),
        (61007, AppDisabled),
        (61010, InvalidCode),
        (41018, ServerMisconfigured),
        (61999, WeChatError),
    ],
)
async def test_errcode_table(platform: Platform, errcode: int, error: type[WxAuthError]) -> None:
    token = await platform.token()
    platform.world.state.faults.append(
        FaultRule(rate=1.0, path=AUTHORIZER_TOKEN_PATH, errcode=errcode)
    )
    with pytest.raises(error) as caught:
        await platform.api.authorizer_token(COMPONENT_APPID, token, APPID, "refreshtoken@@@x")
    assert caught.value.wechat_errcode == errcode


async def test_ip_not_allowed_is_misconfiguration() -> None:
    world = make_world(allowed_ips=("203.0.113.7",))
    transport = httpx.ASGITransport(app=world.app)
    client = WeChatClient("http://wechat.test", transport=transport)
    with pytest.raises(ServerMisconfigured) as caught:
        await ComponentApi(client).component_token(COMPONENT_APPID, COMPONENT_SECRET, "t")
    assert caught.value.wechat_errcode == 61004
    await client.aclose()
    await world.wechat.aclose()


async def test_secrets_stay_out_of_logs_and_errors(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        token, auth = await platform.authorization()
        code = await platform.world.login_code()
        await platform.api.code2session(COMPONENT_APPID, token, APPID, code)
        with pytest.raises(InvalidCode) as caught:
            await platform.api.code2session(COMPONENT_APPID, token, APPID, code)
    assert "component/jscode2session" in caplog.text  # httpx logged the request...
    for secret in (COMPONENT_SECRET, token, code, auth.access_token, auth.refresh_token):
        assert secret not in caplog.text  # ...redacted
        assert secret not in str(caught.value)


def answering(body: dict[str, Any]) -> WeChatClient:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=body))
    return WeChatClient("http://wechat.test", transport=transport)


@pytest.mark.parametrize(
    "body",
    [{}, {"component_access_token": "t"}, {"component_access_token": 5, "expires_in": 7200}],
)
async def test_answers_without_the_data_are_wechat_errors(body: dict[str, Any]) -> None:
    client = answering(body)
    with pytest.raises(WeChatError):
        await ComponentApi(client).component_token(COMPONENT_APPID, COMPONENT_SECRET, "t")
    with pytest.raises(WeChatError):
        await ComponentApi(client).query_auth(COMPONENT_APPID, "t", "c")
    await client.aclose()


async def test_refresh_answer_without_refresh_token_keeps_the_old_one() -> None:
    client = answering({"authorizer_access_token": "new", "expires_in": 7200})
    refreshed = await ComponentApi(client).authorizer_token(COMPONENT_APPID, "t", APPID, "keep")
    assert (refreshed.access_token, refreshed.refresh_token) == ("new", "keep")
    await client.aclose()


async def test_malformed_func_info_is_skipped() -> None:
    info = {
        "authorizer_appid": APPID,
        "authorizer_access_token": "a",
        "expires_in": 7200,
        "authorizer_refresh_token": "r",
        "func_info": [{"funcscope_category": {"id": 17}}, {"funcscope_category": "x"}, 3],
    }
    client = answering({"authorization_info": info})
    auth = await ComponentApi(client).query_auth(COMPONENT_APPID, "t", "c")
    assert auth.func_info == (17,)
    await client.aclose()


def test_string_errcodes_are_read() -> None:
    assert errcode_of({"errcode": "40029", "errmsg": "invalid code"}) == 40029
    assert errcode_of({"errcode": "oops"}) == -1
    assert errcode_of({"openid": "o"}) == 0


def test_login_page_url() -> None:
    url = login_page_url(COMPONENT_APPID, "preauthcode@@@p", "https://platform.test/cb?x=1")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://mp.weixin.qq.com/cgi-bin/componentloginpage"
    )
    assert parse_qs(parts.query) == {
        "component_appid": [COMPONENT_APPID],
        "pre_auth_code": ["preauthcode@@@p"],
        "redirect_uri": ["https://platform.test/cb?x=1"],
        "auth_type": ["2"],
    }
