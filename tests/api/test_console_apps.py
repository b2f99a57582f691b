"""The console's Apps page in-process: the registry's apps with their counts, the admin
actions (shared with ``wxauth apps``), what viewers and forged forms get, and the state of a
third-party platform."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from tests.platform import COMPONENT_APPID, COMPONENT_KEY, COMPONENT_SECRET, COMPONENT_TOKEN
from tests.platform import platform as sim_platform
from wxauth.config import Settings
from wxauth.simulator import SimApp, SimulatorState
from wxauth.wiring import Wiring

from ..conftest import (
    APPID,
    OTHER_APPID,
    OTHER_SECRET,
    SECRET,
    Harness,
    bearer,
    close_harness,
    open_harness,
)
from .test_console import PASSWORD, csrf_of, sign_in

MERCHANT_APPID = "wx4444444444444444"
PLATFORM_SPEC = f"{COMPONENT_APPID}:{COMPONENT_SECRET}:{COMPONENT_TOKEN}:{COMPONENT_KEY}"


@pytest.fixture
async def console(settings: Settings) -> AsyncIterator[tuple[Harness, Wiring]]:
    """The console of a platform deployment: APPID in WXAUTH_APPS, OTHER_APPID known to
    the simulator but not served until it is added, one platform with no ticket yet."""
    state = SimulatorState(
        [SimApp(APPID, SECRET), SimApp(OTHER_APPID, OTHER_SECRET)], platforms=[sim_platform()]
    )
    configured = settings.model_copy(
        update={"console": True, "platforms": [SecretStr(PLATFORM_SPEC)], "app_registry_ttl": 0.2}
    )
    h, app = await open_harness(configured, state)
    wiring: Wiring = app.state.wxauth.wiring
    await wiring.operators.add("ops", PASSWORD, role="admin")
    await wiring.operators.add("look", PASSWORD, role="viewer")
    yield h, wiring
    await close_harness(h, app)


async def post(h: Harness, path: str, page: str = "/console/apps", **data: str) -> httpx.Response:
    form = await h.api.get(page)
    return await h.api.post(path, data={"csrf": csrf_of(form.text), **data})


async def add_other(h: Harness) -> httpx.Response:
    return await post(h, "/console/apps", appid=OTHER_APPID, secret=OTHER_SECRET)


async def login(h: Harness, user: str, appid: str) -> httpx.Response:
    code = await h.code(user, appid=appid)
    return await h.api.post("/v1/login", json={"code": code, "appid": appid})


async def test_the_page_lists_the_registry_with_counts_and_the_pickers_follow(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    await h.login("alice")
    await h.login("bob")
    changes: dict[str, str | int | None] = {"display_name": "商户小店", "session_max_ttl": 7200}
    await wiring.app_admin.add(
        MERCHANT_APPID, secret=None, platform=COMPONENT_APPID, changes=changes
    )
    await sign_in(h.api, "look")
    page = await h.api.get("/console/apps")
    assert page.status_code == 200
    row = re.search(rf'<tr id="app-{APPID}">(.*?)</tr>', page.text)
    assert row and "WXAUTH_APPS" in row.group(1)
    assert '<td class="users">2</td><td class="live">2</td>' in row.group(1)
    merchant = re.search(rf'<tr id="app-{MERCHANT_APPID}">(.*?)</tr>', page.text)
    assert merchant and "商户小店" in merchant.group(1) and "7200" in merchant.group(1)
    assert COMPONENT_APPID in merchant.group(1)  # the kind names its platform
    for path in ("/console/dashboard", "/console/users", "/console/audit"):
        picker = await h.api.get(path)
        assert f'<option value="{MERCHANT_APPID}"' in picker.text, path
    only = await h.api.get("/console/dashboard", params={"app": MERCHANT_APPID})
    assert f": {MERCHANT_APPID}</h1>" in only.text


async def test_an_admin_adds_an_app_its_secret_kept_out_of_pages_logs_and_audit(
    console: tuple[Harness, Wiring], caplog: pytest.LogCaptureFixture
) -> None:
    h, wiring = console
    caplog.set_level(logging.DEBUG)
    assert (await login(h, "zoe", OTHER_APPID)).status_code == 400  # not served yet
    await sign_in(h.api)
    added = await add_other(h)
    assert added.status_code == 303
    assert added.headers["location"] == f"/console/apps/{OTHER_APPID}?done=added"
    stored = await wiring.store.get_app(OTHER_APPID)
    assert stored is not None and stored.secret_enc and OTHER_SECRET not in stored.secret_enc
    answer = await login(h, "zoe", OTHER_APPID)
    assert answer.status_code == 200, answer.text
    page = await h.api.get(f"/console/apps/{OTHER_APPID}")
    assert page.status_code == 200 and OTHER_SECRET not in page.text
    events = await wiring.operators.store.list_operator_events(limit=5, operator="ops")
    assert (events[0].action, events[0].target) == ("app_added", OTHER_APPID)
    assert all(OTHER_SECRET not in (e.detail or "") for e in events)
    assert OTHER_SECRET not in caplog.text
    again = await add_other(h)
    assert again.status_code == 400 and "already served" in again.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"appid": "wx123", "secret": OTHER_SECRET}, "not an appid"),
        ({"appid": OTHER_APPID, "secret": ""}, "printable characters"),
        ({"appid": OTHER_APPID, "secret": "x" * 129}, "printable characters"),
        ({"appid": APPID, "secret": OTHER_SECRET}, "already served"),
    ],
)
async def test_a_bad_add_is_refused_and_changes_nothing(
    console: tuple[Harness, Wiring], data: dict[str, str], message: str
) -> None:
    h, wiring = console
    await sign_in(h.api)
    refused = await post(h, "/console/apps", **data)
    assert refused.status_code == 400 and message in refused.text
    assert await wiring.store.list_apps() == []


async def test_disabling_ends_the_apps_sessions_and_its_token_is_refused(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    await sign_in(h.api)
    await add_other(h)
    token = (await login(h, "zoe", OTHER_APPID)).json()["token"]
    mine = (await login(h, "alice", APPID)).json()["token"]
    page = f"/console/apps/{OTHER_APPID}"
    unconfirmed = await post(h, f"{page}/disable", page, reason="x")
    assert unconfirmed.status_code == 400
    assert (await h.api.get("/v1/me", headers=bearer(token))).status_code == 200
    done = await post(h, f"{page}/disable", page, reason="合同到期", confirm=OTHER_APPID)
    assert done.status_code == 303
    refused = await h.api.get("/v1/me", headers=bearer(token))
    assert refused.status_code in (401, 403)
    assert (await h.api.get("/v1/me", headers=bearer(mine))).status_code == 200  # another app's
    assert (await login(h, "zoe", OTHER_APPID)).status_code == 403
    sessions = await wiring.store.count_live_sessions(wiring.clock(), appid=OTHER_APPID)
    assert sessions == 0
    events = await wiring.operators.store.list_operator_events(limit=1, operator="ops")
    assert (events[0].action, events[0].detail) == ("app_disabled", "合同到期; 1 sessions ended")
    shown = await h.api.get(page)
    assert 'id="status">disabled<' in shown.text and "合同到期" in shown.text
    enabled = await post(h, f"{page}/enable", page)
    assert enabled.status_code == 303
    assert (await login(h, "zoe", OTHER_APPID)).status_code == 200
    assert (await h.api.get("/v1/me", headers=bearer(token))).status_code == 401  # stays ended


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"session_idle_ttl": "7200", "session_max_ttl": "3600"}, "must not exceed"),
        ({"session_max_ttl": "abc"}, "not a whole number"),
        ({"session_max_ttl": "\uff11\uff12\uff10"}, "not a whole number"),  # full-width 120
        ({"session_max_ttl": "9" * 4000}, "not a whole number"),
        ({"session_max_ttl": "30"}, "from 60"),
        ({"rate_limit_login": "-1"}, "not a whole number"),
        ({"display_name": "x" * 101}, "display name"),
        ({"display_name": "a\u0000b"}, "display name"),
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(
    console: tuple[Harness, Wiring], data: dict[str, str], message: str
) -> None:
    h, wiring = console
    await sign_in(h.api)
    await add_other(h)
    before = await wiring.store.get_app(OTHER_APPID)
    page = f"/console/apps/{OTHER_APPID}"
    refused = await post(h, f"{page}/settings", page, **data)
    assert refused.status_code == 400 and message in refused.text
    assert await wiring.store.get_app(OTHER_APPID) == before


async def test_settings_are_saved_and_emptied_back_to_the_defaults(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    await sign_in(h.api)
    page = f"/console/apps/{APPID}"  # a seeded app: a row then holds its settings
    saved = await post(h, f"{page}/settings", page, display_name=" 小店 ", session_idle_ttl="600",
                       session_max_ttl="3600", rate_limit_login="0")  # fmt: skip
    assert saved.status_code == 303
    app = await wiring.store.get_app(APPID)
    assert app is not None
    assert (app.display_name, app.session_idle_ttl, app.session_max_ttl, app.rate_limit_login) == (
        "小店",
        600,
        3600,
        0,
    )
    answer = (await h.login("alice"))["expires_in"]
    assert answer == 3600  # the app's own lifetime
    events = await wiring.operators.store.list_operator_events(limit=1, operator="ops")
    assert events[0].action == "app_settings_changed" and "session_max_ttl=3600" in (
        events[0].detail or ""
    )
    await post(h, f"{page}/settings", page)
    app = await wiring.store.get_app(APPID)
    assert app is not None and (app.display_name, app.session_max_ttl) == (None, None)


async def test_rotating_the_secret_needs_it_twice_and_never_for_a_seeded_app(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    await sign_in(h.api)
    await add_other(h)
    page = f"/console/apps/{OTHER_APPID}"
    before = await wiring.store.get_app(OTHER_APPID)
    differ = await post(h, f"{page}/secret", page, secret="new-one", secret_again="new-two")
    assert differ.status_code == 400 and await wiring.store.get_app(OTHER_APPID) == before
    seeded = await post(h, f"/console/apps/{APPID}/secret", f"/console/apps/{APPID}",
                        secret="new-one", secret_again="new-one")  # fmt: skip
    assert seeded.status_code == 400 and "WXAUTH_APPS" in seeded.text
    rotated = await post(
        h, f"{page}/secret", page, secret="wrong-secret", secret_again="wrong-secret"
    )
    assert rotated.status_code == 303
    after = await wiring.store.get_app(OTHER_APPID)
    assert after is not None and before is not None and after.secret_enc != before.secret_enc
    assert wiring.keyring.decrypt(after.secret_enc or "") == "wrong-secret"
    events = await wiring.operators.store.list_operator_events(limit=1, operator="ops")
    assert (events[0].action, events[0].detail) == ("app_secret_rotated", None)
    assert (await login(h, "zoe", OTHER_APPID)).status_code == 500  # WeChat: 40125


async def test_an_unknown_app_is_404(console: tuple[Harness, Wiring]) -> None:
    h, _ = console
    await sign_in(h.api)
    assert (await h.api.get(f"/console/apps/{OTHER_APPID}")).status_code == 404
    missing = await post(h, f"/console/apps/{OTHER_APPID}/enable")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "action", ["", "/wx2222222222222222/disable", "/wx1111111111111111/enable",
               "/wx1111111111111111/secret", "/wx1111111111111111/settings"],
)  # fmt: skip
async def test_a_viewer_and_a_forged_form_change_nothing(
    console: tuple[Harness, Wiring], action: str
) -> None:
    h, wiring = console
    await sign_in(h.api, "look")
    page = await h.api.get("/console/apps")
    assert 'id="add-app"' not in page.text and "authorize-link" not in page.text
    data = {"appid": OTHER_APPID, "secret": OTHER_SECRET, "confirm": OTHER_APPID,
            "secret_again": OTHER_SECRET, "session_max_ttl": "3600"}  # fmt: skip
    refused = await h.api.post(f"/console/apps{action}", data={"csrf": csrf_of(page.text), **data})
    assert refused.status_code == 403 and "viewer" in refused.text
    forged = await h.api.post(f"/console/apps{action}", data=data)
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert await wiring.store.list_apps() == []


async def test_the_platform_state_without_a_ticket_then_fresh_then_stale(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    await sign_in(h.api)
    page = await h.api.get("/console/apps")
    assert f'id="platform-{COMPONENT_APPID}"' in page.text
    assert 'data-ok="no"' in page.text and "none received" in page.text
    assert 'data-state="none"' in page.text
    now = wiring.clock()
    await wiring.store.save_component_ticket(COMPONENT_APPID, wiring.keyring.encrypt("t"),
                                             now - timedelta(minutes=25))  # fmt: skip
    fresh = await h.api.get("/console/apps")
    assert 'data-ok="yes"' in fresh.text and "25 min" in fresh.text
    await wiring.store.save_component_ticket(COMPONENT_APPID, wiring.keyring.encrypt("t2"),
                                             now - timedelta(hours=13))  # fmt: skip
    await wiring.store.save_component_ticket(COMPONENT_APPID, wiring.keyring.encrypt("t3"),
                                             now - timedelta(hours=13))  # fmt: skip
    # the newest ticket wins: the stale ones above did not replace the fresh one
    assert 'data-ok="yes"' in (await h.api.get("/console/apps")).text


async def test_a_stale_ticket_is_warned_about(console: tuple[Harness, Wiring]) -> None:
    h, wiring = console
    await sign_in(h.api)
    received = wiring.clock() - timedelta(hours=13)
    await wiring.store.save_component_ticket(COMPONENT_APPID, wiring.keyring.encrypt("t"), received)
    page = await h.api.get("/console/apps")
    assert (
        'data-ok="no"' in page.text and "13 h 0 min" in page.text and "older than 12 h" in page.text
    )


async def test_an_admin_makes_an_authorization_link_and_the_token_is_then_held(
    console: tuple[Harness, Wiring],
) -> None:
    h, wiring = console
    pushed = await h.phone.post("/sim/component/push-ticket",
                                json={"component_appid": COMPONENT_APPID})  # fmt: skip
    ticket = pushed.json()["ticket"]
    await wiring.store.save_component_ticket(
        COMPONENT_APPID, wiring.keyring.encrypt(ticket), wiring.clock()
    )
    await sign_in(h.api)
    action = f"/console/platforms/{COMPONENT_APPID}/authorize-link"
    bad = await post(h, action, redirect_uri="javascript:alert(1)")
    assert bad.status_code == 400
    unknown = await post(h, "/console/platforms/wxnotaplatform0001/authorize-link",
                         redirect_uri="https://provider.example/authorized")  # fmt: skip
    assert unknown.status_code == 404
    made = await post(h, action, redirect_uri="https://provider.example/authorized")
    assert made.status_code == 200
    link = re.search(r'id="link">[^<]*<a href="([^"]+)"', made.text)
    assert link and "pre_auth_code=" in link.group(1) and COMPONENT_APPID in link.group(1)
    assert 'data-state="cached"' in made.text  # fetched for the link, shown without a call
    events = await wiring.operators.store.list_operator_events(limit=1, operator="ops")
    assert (events[0].action, events[0].target) == ("authorize_link_created", COMPONENT_APPID)
