"""The simulator plays the Open Platform: pushes, platform APIs and their errcodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import APPID, OTHER_APPID, SECRET
from tests.platform import (
    COMPONENT_APPID,
    COMPONENT_KEY,
    COMPONENT_SECRET,
    PUSH_URL,
    START,
    World,
    make_world,
)
from wxauth.simulator import SimPlatform, SimulatorState
from wxauth.simulator.component import DEFAULT_FUNC_INFO
from wxauth.simulator.state import FaultRule, openid_for, unionid_for
from wxauth.wechat.component_push import (
    AUTHORIZED,
    UNAUTHORIZED,
    UPDATE_AUTHORIZED,
    VERIFY_TICKET,
)

TOKEN_PATH = "/cgi-bin/component/api_component_token"
PREAUTH_PATH = "/cgi-bin/component/api_create_preauthcode"
QUERY_AUTH_PATH = "/cgi-bin/component/api_query_auth"
AUTHORIZER_TOKEN_PATH = "/cgi-bin/component/api_authorizer_token"
LOGIN_PATH = "/sns/component/jscode2session"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = make_world()
    yield w
    await w.wechat.aclose()


def errcode(answer: httpx.Response) -> int:
    assert answer.status_code == 200  # WeChat fails inside HTTP 200
    body: dict[str, Any] = answer.json()
    assert body["errmsg"].endswith(f"rid: sim-{body['errcode']}")
    code: int = body["errcode"]
    return code


def token_body(ticket: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "component_appid": COMPONENT_APPID,
        "component_appsecret": COMPONENT_SECRET,
        "component_verify_ticket": ticket,
        **overrides,
    }


async def call(world: World, path: str, token: str, **body: Any) -> httpx.Response:
    body.setdefault("component_appid", COMPONENT_APPID)
    return await world.wechat.post(path, params={"component_access_token": token}, json=body)


async def authorized(world: World, appid: str = APPID) -> tuple[str, dict[str, Any]]:
    """A component token, and the authorization_info of ``appid``."""
    token = await world.component_token()
    auth_code = (await world.authorize(token, appid))["auth_code"]
    answer = await call(world, QUERY_AUTH_PATH, token, authorization_code=auth_code)
    info: dict[str, Any] = answer.json()["authorization_info"]
    return token, info


# -- pushes ---------------------------------------------------------------------------------


async def test_ticket_push_is_signed_encrypted_and_fresh(world: World) -> None:
    pushed = await world.sim("/sim/component/push-ticket", component_appid=COMPONENT_APPID)
    assert pushed["push"] == {
        "url": PUSH_URL,
        "status": 200,
        "answer": "success",
        "error": None,
        "ok": True,
    }
    event = world.receiver.last(VERIFY_TICKET)
    assert event.verify_ticket == pushed["ticket"]
    assert event.component_appid == COMPONENT_APPID and event.create_time == int(START)
    request = world.receiver.requests[-1]
    assert request.method == "POST" and request.url.params["encrypt_type"] == "aes"
    assert request.headers["content-type"].startswith("text/xml")
    assert b"<AppId><![CDATA[wxcomponent0000001]]></AppId><Encrypt>" in request.content
    assert pushed["ticket"].encode() not in request.content


async def test_ticket_is_issued_even_without_a_push_url() -> None:
    w = make_world(push_url=None)
    pushed = await w.sim("/sim/component/push-ticket", component_appid=COMPONENT_APPID)
    assert pushed["push"]["ok"] is False and pushed["push"]["url"] is None
    answer = await w.wechat.post(TOKEN_PATH, json=token_body(pushed["ticket"]))
    assert "component_access_token" in answer.json()
    await w.wechat.aclose()


async def test_push_refused_or_unreachable_is_reported() -> None:
    w = make_world(token="not-the-receivers-token")
    pushed = await w.sim("/sim/component/push-ticket", component_appid=COMPONENT_APPID)
    assert pushed["push"]["status"] == 400 and pushed["push"]["ok"] is False
    assert w.receiver.events == [] and len(w.receiver.refused) == 1
    await w.wechat.aclose()

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    w = make_world()
    w.state.component.push_transport = httpx.MockTransport(unreachable)
    pushed = await w.sim("/sim/component/push-ticket", component_appid=COMPONENT_APPID)
    assert pushed["push"]["error"] == "ConnectError" and pushed["push"]["status"] is None
    await w.wechat.aclose()


async def test_unknown_platform_is_not_found(world: World) -> None:
    answer = await world.wechat.post(
        "/sim/component/push-ticket", json={"component_appid": "wxnobody"}
    )
    assert answer.status_code == 404
    answer = await world.wechat.post("/sim/component/push-ticket", json=["not", "an object"])
    assert answer.status_code == 400


async def test_timer_pushes_tickets_while_served() -> None:
    w = make_world(ticket_interval_s=0.01)
    async with w.app.router.lifespan_context(w.app):
        for _ in range(200):
            if len(w.receiver.events) >= 3:
                break
            await asyncio.sleep(0.01)
    assert len(w.receiver.events) >= 3
    assert all(e.info_type == VERIFY_TICKET for e in w.receiver.events)
    assert len({e.verify_ticket for e in w.receiver.events}) == len(w.receiver.events)
    count = len(w.receiver.events)
    await asyncio.sleep(0.05)
    assert len(w.receiver.events) == count  # stopped with the lifespan
    await w.wechat.aclose()


# -- api_component_token --------------------------------------------------------------------


async def test_component_token(world: World) -> None:
    answer = await world.wechat.post(TOKEN_PATH, json=token_body(await world.ticket()))
    body = answer.json()
    assert set(body) == {"component_access_token", "expires_in"}
    assert body["expires_in"] == 7200


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"component_appid": ""}, 41018),
        ({"component_appid": "wxnotaplatform"}, 40013),
        ({"component_appsecret": "wrong"}, 40125),
        ({"component_verify_ticket": "ticket@@@forged"}, 61006),
        ({"component_verify_ticket": None}, 61006),
    ],
)
async def test_component_token_errors(
    world: World, overrides: dict[str, Any], expected: int
) -> None:
    body = token_body(await world.ticket(), **overrides)
    assert errcode(await world.wechat.post(TOKEN_PATH, json=body)) == expected


async def test_ticket_expires_after_twelve_hours(world: World) -> None:
    ticket = await world.ticket()
    world.advance(12 * 3600)
    assert (
        "component_access_token"
        in (await world.wechat.post(TOKEN_PATH, json=token_body(ticket))).json()
    )
    world.advance(1)
    assert errcode(await world.wechat.post(TOKEN_PATH, json=token_body(ticket))) == 61005


async def test_non_json_body_is_a_format_error(world: World) -> None:
    answer = await world.wechat.post(TOKEN_PATH, content=b"<xml/>")
    assert errcode(answer) == 47001


async def test_ip_allow_list() -> None:
    w = make_world(allowed_ips=("203.0.113.7",))
    ticket = await w.ticket()
    assert errcode(await w.wechat.post(TOKEN_PATH, json=token_body(ticket))) == 61004
    w.state.component.platforms[COMPONENT_APPID] = SimPlatform(
        COMPONENT_APPID,
        COMPONENT_SECRET,
        "platformtoken",
        COMPONENT_KEY,
        allowed_ips=("127.0.0.1",),
    )
    assert (
        "component_access_token"
        in (await w.wechat.post(TOKEN_PATH, json=token_body(ticket))).json()
    )
    await w.wechat.aclose()


# -- component_access_token checks ------------------------------------------------------------


async def test_token_missing_invalid_expired(world: World) -> None:
    answer = await world.wechat.post(PREAUTH_PATH, json={"component_appid": COMPONENT_APPID})
    assert errcode(answer) == 41001
    assert errcode(await call(world, PREAUTH_PATH, "sim_cat_forged")) == 40001
    token = await world.component_token()
    world.advance(7200)
    assert errcode(await call(world, PREAUTH_PATH, token)) == 42001


async def test_previous_token_stays_valid_five_minutes(world: World) -> None:
    first = await world.component_token()
    second = await world.component_token()
    assert first != second
    assert "pre_auth_code" in (await call(world, PREAUTH_PATH, first)).json()
    world.advance(300)
    assert errcode(await call(world, PREAUTH_PATH, first)) == 40001
    assert "pre_auth_code" in (await call(world, PREAUTH_PATH, second)).json()


async def test_access_token_parameter_is_accepted_too(world: World) -> None:
    token = await world.component_token()
    answer = await world.wechat.post(
        PREAUTH_PATH, params={"access_token": token}, json={"component_appid": COMPONENT_APPID}
    )
    assert answer.json()["expires_in"] == 1800


@pytest.mark.parametrize(("component_appid", "expected"), [("", 41018), ("wxother", 40013)])
async def test_component_appid_must_match_the_token(
    world: World, component_appid: str, expected: int
) -> None:
    token = await world.component_token()
    answer = await call(world, PREAUTH_PATH, token, component_appid=component_appid)
    assert errcode(answer) == expected


# -- authorization --------------------------------------------------------------------------


async def test_authorize_pushes_authorized_and_redirects(world: World) -> None:
    token = await world.component_token()
    answer = await world.authorize(token, redirect_uri="https://platform.test/done?step=2")
    assert answer["expires_in"] == 3600 and answer["info_type"] == AUTHORIZED
    assert answer["push"]["ok"] is True
    event = world.receiver.last(AUTHORIZED)
    assert event.authorizer_appid == APPID
    assert event.authorization_code == answer["auth_code"]
    assert event.authorization_code_expires_at == int(START) + 3600
    redirect = urlsplit(answer["redirect"])
    assert redirect.path == "/done"
    assert parse_qs(redirect.query) == {
        "step": ["2"],
        "auth_code": [answer["auth_code"]],
        "expires_in": ["3600"],
    }


async def test_authorize_needs_a_live_pre_auth_code(world: World) -> None:
    token = await world.component_token()
    code = await world.preauth_code(token)
    world.advance(1801)
    body = {"component_appid": COMPONENT_APPID, "appid": APPID, "pre_auth_code": code}
    assert (await world.wechat.post("/sim/component/authorize", json=body)).status_code == 400
    body["pre_auth_code"] = "preauthcode@@@forged"
    assert (await world.wechat.post("/sim/component/authorize", json=body)).status_code == 400
    del body["appid"]
    assert (await world.wechat.post("/sim/component/authorize", json=body)).status_code == 400


async def test_query_auth(world: World) -> None:
    _, info = await authorized(world)
    assert set(info) == {
        "authorizer_appid",
        "authorizer_access_token",
        "expires_in",
        "authorizer_refresh_token",
        "func_info",
    }
    assert info["authorizer_appid"] == APPID and info["expires_in"] == 7200
    assert info["authorizer_refresh_token"].startswith("refreshtoken@@@")
    assert [f["funcscope_category"]["id"] for f in info["func_info"]] == list(DEFAULT_FUNC_INFO)


async def test_authorization_code_is_single_use_and_expires(world: World) -> None:
    token = await world.component_token()
    code = (await world.authorize(token))["auth_code"]
    assert (
        "authorization_info"
        in (await call(world, QUERY_AUTH_PATH, token, authorization_code=code)).json()
    )
    assert errcode(await call(world, QUERY_AUTH_PATH, token, authorization_code=code)) == 61009
    code = (await world.authorize(token))["auth_code"]
    world.advance(3601)
    token = await world.component_token()
    assert errcode(await call(world, QUERY_AUTH_PATH, token, authorization_code=code)) == 61010
    assert errcode(await call(world, QUERY_AUTH_PATH, token, authorization_code="x")) == 61009


async def test_authorizer_access_token_works_on_the_wxa_paths(world: World) -> None:
    _, info = await authorized(world)
    phone = await world.sim("/sim/phone-code", appid=APPID, user="alice")
    answer = await world.wechat.post(
        "/wxa/business/getuserphonenumber",
        params={"access_token": info["authorizer_access_token"]},
        json={"code": phone["code"]},
    )
    assert answer.json()["phone_info"]["watermark"]["appid"] == APPID


async def test_refresh_authorizer_token(world: World) -> None:
    token, info = await authorized(world)
    refresh = info["authorizer_refresh_token"]
    answer = await call(
        world,
        AUTHORIZER_TOKEN_PATH,
        token,
        authorizer_appid=APPID,
        authorizer_refresh_token=refresh,
    )
    body = answer.json()
    assert set(body) == {"authorizer_access_token", "expires_in", "authorizer_refresh_token"}
    assert body["authorizer_refresh_token"] == refresh
    assert body["authorizer_access_token"] != info["authorizer_access_token"]
    wrong = await call(
        world, AUTHORIZER_TOKEN_PATH, token, authorizer_appid=APPID, authorizer_refresh_token="x"
    )
    assert errcode(wrong) == 61023
    other = await call(
        world,
        AUTHORIZER_TOKEN_PATH,
        token,
        authorizer_appid=OTHER_APPID,
        authorizer_refresh_token=refresh,
    )
    assert errcode(other) == 61003


async def test_authorizing_again_rotates_the_refresh_token(world: World) -> None:
    token, first = await authorized(world)
    again = await world.authorize(token)
    assert again["info_type"] == UPDATE_AUTHORIZED
    assert world.receiver.last(UPDATE_AUTHORIZED).authorization_code == again["auth_code"]
    old = await call(
        world,
        AUTHORIZER_TOKEN_PATH,
        token,
        authorizer_appid=APPID,
        authorizer_refresh_token=first["authorizer_refresh_token"],
    )
    assert errcode(old) == 61023


async def test_update_authorization_changes_func_info_only(world: World) -> None:
    token, first = await authorized(world)
    update = await world.sim(
        "/sim/component/update-authorization",
        component_appid=COMPONENT_APPID,
        appid=APPID,
        func_info=[17, 18],
    )
    assert update["info_type"] == UPDATE_AUTHORIZED and update["push"]["ok"]
    event = world.receiver.last(UPDATE_AUTHORIZED)
    assert event.authorization_code == update["auth_code"]
    answer = await call(world, QUERY_AUTH_PATH, token, authorization_code=update["auth_code"])
    info = answer.json()["authorization_info"]
    assert [f["funcscope_category"]["id"] for f in info["func_info"]] == [17, 18]
    assert info["authorizer_refresh_token"] == first["authorizer_refresh_token"]
    bad = {"component_appid": COMPONENT_APPID, "appid": APPID, "func_info": "all"}
    answer = await world.wechat.post("/sim/component/update-authorization", json=bad)
    assert answer.status_code == 400
    bad = {"component_appid": COMPONENT_APPID, "appid": OTHER_APPID}
    answer = await world.wechat.post("/sim/component/update-authorization", json=bad)
    assert answer.status_code == 404


async def test_unauthorize(world: World) -> None:
    token, info = await authorized(world)
    body = {"component_appid": COMPONENT_APPID, "appid": APPID}
    answer = await world.sim("/sim/component/unauthorize", **body)
    assert answer["info_type"] == UNAUTHORIZED and answer["push"]["ok"]
    assert world.receiver.last(UNAUTHORIZED).authorizer_appid == APPID
    refresh = await call(
        world,
        AUTHORIZER_TOKEN_PATH,
        token,
        authorizer_appid=APPID,
        authorizer_refresh_token=info["authorizer_refresh_token"],
    )
    assert errcode(refresh) == 61003
    assert world.state.wxa.check(info["authorizer_access_token"], world.now[0])[0] == 40001
    login = await world.wechat.get(LOGIN_PATH, params=login_params(token, await world.login_code()))
    assert errcode(login) == 61003
    assert (await world.wechat.post("/sim/component/unauthorize", json=body)).status_code == 404


async def test_authorize_registers_a_merchant_app_it_had_not_met(world: World) -> None:
    token = await world.component_token()
    await world.authorize(token, appid="wxnewmerchant00001")
    code = await world.login_code(appid="wxnewmerchant00001")
    params = login_params(token, code, appid="wxnewmerchant00001")
    answer = await world.wechat.get(LOGIN_PATH, params=params)
    assert answer.json()["openid"] == openid_for("wxnewmerchant00001", "alice")


# -- /sns/component/jscode2session ------------------------------------------------------------


def login_params(token: str, code: str, **overrides: str) -> dict[str, str]:
    return {
        "appid": APPID,
        "js_code": code,
        "grant_type": "authorization_code",
        "component_appid": COMPONENT_APPID,
        "component_access_token": token,
        **overrides,
    }


async def test_component_login(world: World) -> None:
    token, _ = await authorized(world)
    code = await world.login_code()
    body = (await world.wechat.get(LOGIN_PATH, params=login_params(token, code))).json()
    assert body == {
        "session_key": world.state.current_key(APPID, "alice"),
        "openid": openid_for(APPID, "alice"),
        "unionid": unionid_for("alice"),
    }
    assert errcode(await world.wechat.get(LOGIN_PATH, params=login_params(token, code))) == 40163


async def test_plain_login_needs_the_merchants_own_secret(world: World) -> None:
    await authorized(world)
    params = {
        "appid": APPID,
        "js_code": await world.login_code(),
        "grant_type": "authorization_code",
    }
    wrong = await world.wechat.get(
        "/sns/jscode2session", params={**params, "secret": COMPONENT_SECRET}
    )
    assert errcode(wrong) == 40125
    right = await world.wechat.get("/sns/jscode2session", params={**params, "secret": SECRET})
    assert right.json()["openid"] == openid_for(APPID, "alice")


async def test_component_login_errors(world: World) -> None:
    token, _ = await authorized(world)
    code = await world.login_code()

    async def login(**overrides: str) -> int:
        return errcode(
            await world.wechat.get(LOGIN_PATH, params=login_params(token, code, **overrides))
        )

    assert await login(component_access_token="") == 41001
    assert await login(component_access_token="sim_cat_forged") == 40001
    assert await login(component_appid="wxother") == 40013
    assert await login(grant_type="client_credential") == 40002
    assert await login(appid="wxunknownapp") == 40013
    assert await login(appid=OTHER_APPID) == 61003  # known, but not authorized to the platform
    assert await login(js_code="") == 41008
    assert await login(js_code="forged") == 40029
    other_code = await world.login_code(appid=OTHER_APPID)
    assert await login(js_code=other_code) == 40029
    world.advance(301)
    assert await login() == 40029  # expired
    world.advance(7200)
    assert await login() == 42001


async def test_faults_and_stats_cover_the_platform_paths(world: World) -> None:
    world.state.faults.append(FaultRule(rate=1.0, path=TOKEN_PATH, errcode=-1))
    assert errcode(await world.wechat.post(TOKEN_PATH, json=token_body(await world.ticket()))) == -1
    stats = (await world.wechat.get("/sim/stats")).json()["calls"]
    assert stats[TOKEN_PATH] == 1


def test_platform_spec() -> None:
    spec = f"wxcomp:sec:tok:{COMPONENT_KEY}:http://127.0.0.1:8000/events?x=1"
    parsed = SimPlatform.parse(spec, ticket_interval_s=5)
    assert (parsed.component_appid, parsed.secret, parsed.token) == ("wxcomp", "sec", "tok")
    assert parsed.push_url == "http://127.0.0.1:8000/events?x=1"
    assert parsed.ticket_interval_s == 5
    assert SimPlatform.parse(f"wxcomp:sec:tok:{COMPONENT_KEY}").push_url is None
    assert "sec" not in repr(parsed) and COMPONENT_KEY not in repr(parsed)
    with pytest.raises(ValueError, match="APPID:SECRET"):
        SimPlatform.parse("wxcomp:sec")
    with pytest.raises(ValueError):
        SimPlatform.parse("wxcomp:sec:tok:short-key")


def test_state_without_platforms_still_works() -> None:
    state = SimulatorState([])
    assert state.component.platforms == {}
