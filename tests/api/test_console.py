"""The operator console in-process: sign-in, CSRF, roles, throttling, and what it changes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest

from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.wiring import Wiring

from ..conftest import FakeClock, Harness, bearer, close_harness, open_harness

PASSWORD = "correct horse battery staple"


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"console": True, "rate_limit_console_signin_name": 3})


@pytest.fixture
async def console(
    console_settings: Settings, sim_state: SimulatorState
) -> AsyncIterator[tuple[Harness, Wiring]]:
    # A still clock: the sign-in limits' window never ends in the middle of a test.
    h, app = await open_harness(console_settings, sim_state, FakeClock())
    wiring: Wiring = app.state.wxauth.wiring
    await wiring.operators.add("ops", PASSWORD, role="admin")
    await wiring.operators.add("look", PASSWORD, role="viewer")
    yield h, wiring
    await close_harness(h, app)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(api: httpx.AsyncClient, name: str = "ops", password: str = PASSWORD,
                  **extra: str) -> httpx.Response:  # fmt: skip
    form = await api.get("/console/signin")
    data = {"csrf": csrf_of(form.text), "name": name, "password": password, **extra}
    return await api.post("/console/signin", data=data)


async def test_the_console_is_off_by_default(harness: Harness) -> None:
    assert (await harness.api.get("/console/signin")).status_code == 404


async def test_sign_in_sets_a_strict_http_only_cookie_and_opens_the_dashboard(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    await h.login("alice")
    response = await sign_in(h.api)
    assert response.status_code == 303 and response.headers["location"] == "/console/dashboard"
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith("wxauth_console="))  # fmt: skip
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind HTTPS it is Secure
    page = await h.api.get("/console/dashboard")
    assert page.status_code == 200
    assert re.search(r'id="logins">1<', page.text) and re.search(
        r'id="active-sessions">1<', page.text
    )
    assert "<svg" in page.text and "default-src 'none'" in page.headers["content-security-policy"]
    events = await wiring.operators.store.list_operator_events(limit=5, operator="ops")
    assert [e.action for e in events] == ["sign_in"]


async def test_pages_without_a_session_send_to_sign_in(console: tuple[Harness, Wiring]) -> None:
    h, _ = console
    response = await h.api.get("/console/users")
    assert response.status_code == 303 and response.headers["location"] == "/console/signin"


async def test_an_admin_finds_a_user_by_nickname_and_disables_them(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    token = (await h.login("alice"))["token"]
    await h.api.post("/v1/me/profile", headers=bearer(token), json={"nickName": "小熊猫 🐼"})
    await sign_in(h.api)
    found = await h.api.get("/console/users", params={"q": "熊猫"})
    assert "小熊猫 🐼" in found.text
    user_id = re.search(r'href="/console/users/([0-9a-f]{32})"', found.text)
    assert user_id
    page = await h.api.get(f"/console/users/{user_id.group(1)}")
    done = await h.api.post(
        f"/console/users/{user_id.group(1)}/disable",
        data={"csrf": csrf_of(page.text), "reason": "spam"},
    )
    assert done.status_code == 303
    refused = await h.api.get("/v1/me", headers=bearer(token))
    assert refused.status_code in (401, 403)
    actions = await wiring.operators.store.list_operator_events(limit=10, operator="ops")
    assert [(a.action, a.target) for a in actions][:2] == [
        ("user_disabled", user_id.group(1)),
        ("users_searched", None),
    ]
    events = await wiring.store.list_account_events(limit=5, user_id=user_id.group(1))
    assert [(e.action, e.actor) for e in events] == [("disabled", "operator")]


async def test_a_form_without_its_csrf_token_is_refused(console: tuple[Harness, Wiring]) -> None:
    h, wiring = console
    await h.login("alice")
    user = (await wiring.store.list_users())[0]
    await sign_in(h.api)
    for data in ({"reason": "x"}, {"reason": "x", "csrf": "0" * 64}):
        response = await h.api.post(f"/console/users/{user.id}/disable", data=data)
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert (await wiring.store.get_user(user.id)).status == "active"  # type: ignore[union-attr]
    # the sign-in form has its own token too
    bare = await h.api.post("/console/signin", data={"name": "ops", "password": PASSWORD})
    assert bare.status_code == 403


async def test_a_viewer_sees_but_cannot_change(console: tuple[Harness, Wiring]) -> None:
    h, wiring = console
    await h.login("alice")
    user = (await wiring.store.list_users())[0]
    await sign_in(h.api, "look")
    page = await h.api.get(f"/console/users/{user.id}")
    assert page.status_code == 200 and 'id="disable"' not in page.text
    response = await h.api.post(
        f"/console/users/{user.id}/disable", data={"csrf": csrf_of(page.text), "reason": "x"}
    )
    assert response.status_code == 403 and "viewer" in response.text
    assert (await wiring.store.get_user(user.id)).status == "active"  # type: ignore[union-attr]


async def test_wrong_passwords_are_throttled_per_account(console: tuple[Harness, Wiring]) -> None:
    h, wiring = console
    for _ in range(3):
        assert (await sign_in(h.api, password="wrong password!")).status_code == 401
    throttled = await sign_in(h.api)  # even the right password, until the window ends
    assert throttled.status_code == 429
    assert "wxauth_console=" not in throttled.headers.get("set-cookie", "")
    actions = [e.action for e in await wiring.operators.store.list_operator_events(limit=10)]
    assert actions.count("sign_in_failed") == 3 and "sign_in_throttled" in actions
    # another operator from another address is not held up by it
    other = await sign_in(h.api, "look")
    assert other.status_code == 303


async def test_totp_is_asked_for_when_set_up(console: tuple[Harness, Wiring]) -> None:
    h, wiring = console
    secret = pyotp.random_base32()
    await wiring.operators.add("otp", PASSWORD, role="admin", totp_secret=secret)
    assert (await sign_in(h.api, "otp")).status_code == 401
    assert (await sign_in(h.api, "otp", totp="000000")).status_code in (401, 429)
    code = pyotp.TOTP(secret).at(wiring.clock())
    assert (await sign_in(h.api, "otp", totp=code)).status_code == 303


async def test_the_phone_is_masked_until_asked_for_and_the_request_is_recorded(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    await h.login("alice")
    user = (await wiring.store.list_users())[0]
    await wiring.store.set_phone(user.id, "+8613800001234", "86", wiring.clock())
    await sign_in(h.api, "look")
    page = await h.api.get(f"/console/users/{user.id}")
    assert "+8613800001234" not in page.text and "1234" in page.text
    shown = await h.api.post(f"/console/users/{user.id}/phone", data={"csrf": csrf_of(page.text)})
    assert "+8613800001234" in shown.text
    actions = await wiring.operators.store.list_operator_events(limit=1, operator="look")
    assert (actions[0].action, actions[0].target) == ("phone_revealed", user.id)


async def test_sign_out_ends_the_session(console: tuple[Harness, Wiring]) -> None:
    h, _ = console
    await sign_in(h.api)
    page = await h.api.get("/console/dashboard")
    cookie = h.api.cookies.get("wxauth_console")
    await h.api.post("/console/signout", data={"csrf": csrf_of(page.text)})
    h.api.cookies.set("wxauth_console", cookie or "", domain="wxauth.test", path="/console")
    assert (await h.api.get("/console/dashboard")).status_code == 303


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_are_served_from_local_assets(harness: Harness, path: str) -> None:
    page = await harness.api.get(path)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/") for url in assets), assets
    for url in assets:
        assert (await harness.api.get(url)).status_code == 200, url
