"""The console in a real browser: Debian's chromium, driven by Playwright, against a real
``wxauth dev`` seeded through the API and the simulator, and (for the Apps page) a real
``wxauth serve`` in platform mode beside a ``wxauth simulator`` that knows a second app.

Every request the browser makes is checked to go to the server under test (nothing from a
CDN or anywhere else). The screenshots go to a temporary folder; with
``CONSOLE_SCREENSHOTS=docs/console`` they replace the ones in ``docs/console/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.platform import COMPONENT_APPID, COMPONENT_KEY, COMPONENT_SECRET, COMPONENT_TOKEN
from wxauth.config import Settings
from wxauth.core.keyring import generate_key
from wxauth.core.models import LoginEvent
from wxauth.demo import DEMO_SECRET
from wxauth.wiring import Wiring

from ..processes import WXAUTH, free_port, running

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
APPID = "wxd0e0000000000001"  # the dev server's demo app
OTHER_APPID = "wx2222222222222222"  # known to the simulator, added from the console
OTHER_SECRET = "another-secret-9876543210"
MERCHANT_APPID = "wx4444444444444444"  # authorized through the platform
WITHDRAWN_APPID = "wx5555555555555555"  # authorized, then withdrawn by its merchant
PASSWORD = "correct horse battery staple"


def _shots_dir() -> Path:
    """Where the screenshots go: ``CONSOLE_SCREENSHOTS`` (relative to the repository) when
    set, so that a run regenerates the documentation's; else a temporary folder."""
    chosen = os.environ.get("CONSOLE_SCREENSHOTS")
    if chosen:
        return ROOT / chosen
    return Path(tempfile.gettempdir()) / "wxauth-console-screenshots"


def _in_a_thread(work: Callable[[], Awaitable[object]]) -> None:
    """Run async seeding beside Playwright's own loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(work())).result()  # type: ignore[arg-type]


def _chromium() -> str:
    if not os.path.exists(CHROMIUM) and os.environ.get("CI") and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False)
    if not os.path.exists(CHROMIUM):
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium")
    return CHROMIUM


@dataclass
class Server:
    base: str
    cwd: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def operators_add(self, name: str, role: str) -> None:
        subprocess.run(
            [WXAUTH, "operators", "add", name, "--role", role],
            input=PASSWORD + "\n", text=True, cwd=self.cwd, check=True, capture_output=True,
        )  # fmt: skip


def _login(client: httpx.Client, user: str) -> str:
    code = client.post("/sim/login", json={"appid": APPID, "user": user}).json()["code"]
    token: str = client.post("/v1/login", json={"code": code}).json()["token"]
    return token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("console-dev")
    port = free_port()
    env = {"WXAUTH_CONSOLE": "1", "WXAUTH_RATE_LIMIT_CONSOLE_SIGNIN_NAME": "3"}
    with running(["dev", "--port", str(port)], port=port, env=env, cwd=cwd):
        srv = Server(f"http://127.0.0.1:{port}", cwd)
        with httpx.Client(base_url=srv.base, timeout=10) as client:
            # the seeded data: five users with nicknames, two failed logins
            for user, nickname in [("alice", "小熊猫 🐼"), ("bob", "Bob"), ("carol", "Carol"),
                                   ("dave", "大卫"), ("erin", "Erin")]:  # fmt: skip
                token = _login(client, user)
                srv.tokens[user] = token
                client.post("/v1/me/profile", json={"nickName": nickname},
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            for _ in range(2):
                client.post("/v1/login", json={"code": "made-up-code"})
        srv.operators_add("ops", "admin")
        srv.operators_add("look", "viewer")
        yield srv


@dataclass
class AppsServer:
    """``wxauth serve`` (console on, one platform) and a ``wxauth simulator`` that knows the
    demo app and a second one, which the server does not serve until an admin adds it."""

    base: str
    sim: str
    env: dict[str, str]
    cwd: Path

    def wxauth(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [WXAUTH, *args], input=stdin, text=True, cwd=self.cwd, check=True,
            capture_output=True, env={**os.environ, **self.env},
        )  # fmt: skip

    def settings(self) -> Settings:
        return Settings(
            database_url=self.env["WXAUTH_DATABASE_URL"],
            secret_keys=[self.env["WXAUTH_SECRET_KEYS"]],
            session_cache_ttl=0,
        )


async def _seed_platform(settings: Settings) -> None:
    """A ticket received 20 minutes ago, a merchant's app authorized and one withdrawn."""
    from wxauth.core.apps import WITHDRAWN, disabled

    wiring = Wiring(settings)
    try:
        now = wiring.clock()
        ticket = wiring.keyring.encrypt("ticket@seeded")
        await wiring.store.save_component_ticket(
            COMPONENT_APPID, ticket, now - timedelta(minutes=20)
        )
        admin = wiring.app_admin
        await admin.add(MERCHANT_APPID, secret=None, platform=COMPONENT_APPID,
                        changes={"display_name": "商户小店"})  # fmt: skip
        gone = await admin.add(WITHDRAWN_APPID, secret=None, platform=COMPONENT_APPID)
        await wiring.store.save_app(disabled(gone, WITHDRAWN, now))
    finally:
        await wiring.aclose()


@pytest.fixture(scope="module")
def apps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppsServer]:
    cwd = tmp_path_factory.mktemp("console-apps")
    sim_port, port = free_port(), free_port()
    platform = f"{COMPONENT_APPID}:{COMPONENT_SECRET}:{COMPONENT_TOKEN}:{COMPONENT_KEY}"
    env = {
        "WXAUTH_CONFIG": "",
        "WXAUTH_DATABASE_URL": f"sqlite+aiosqlite:///{cwd / 'wxauth.db'}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_APPS": f"{APPID}:{DEMO_SECRET}",
        "WXAUTH_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WXAUTH_PLATFORMS": platform,
        "WXAUTH_CONSOLE": "1",
    }
    apps = ["--app", f"{APPID}:{DEMO_SECRET}", "--app", f"{OTHER_APPID}:{OTHER_SECRET}"]
    srv = AppsServer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}", env, cwd)
    srv.wxauth("db", "upgrade")
    with (
        running(["simulator", "--port", str(sim_port), *apps], port=sim_port, cwd=cwd,
                ready_path="/sim/stats"),
        running(["serve", "--port", str(port)], port=port, env=env, cwd=cwd),
    ):  # fmt: skip
        for name, role in [("ops", "admin"), ("look", "viewer")]:
            srv.wxauth("operators", "add", name, "--role", role, stdin=PASSWORD + "\n")
        _in_a_thread(lambda: _seed_platform(srv.settings()))
        yield srv


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[object]:
    playwright = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=ARGS)
        yield launched
        launched.close()


class Outside:
    """Every request the browser makes; those to any other host are refused and kept."""

    def __init__(self, base: str) -> None:
        self.host = urlsplit(base).netloc
        self.refused: list[str] = []
        self.seen: list[str] = []

    def __call__(self, route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        self.seen.append(url)
        if urlsplit(url).netloc != self.host:
            self.refused.append(url)
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]


def _context(browser: object, server: Server | AppsServer) -> tuple[object, Outside]:
    context = browser.new_context(  # type: ignore[attr-defined]
        base_url=server.base, viewport={"width": 1200, "height": 900}, locale="zh-CN"
    )
    outside = Outside(server.base)
    context.route("**/*", outside)
    return context, outside


def _sign_in(page: object, name: str, password: str = PASSWORD) -> None:
    page.goto("/console/signin")  # type: ignore[attr-defined]
    page.fill("input[name=name]", name)  # type: ignore[attr-defined]
    page.fill("input[name=password]", password)  # type: ignore[attr-defined]
    page.click("#signin")  # type: ignore[attr-defined]


def _shot(page: object, name: str) -> None:
    shots = _shots_dir()
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_an_admin_signs_in_finds_a_user_and_disables_them(browser: object, server: Server) -> None:
    context, outside = _context(browser, server)
    page = context.new_page()  # type: ignore[attr-defined]
    page.goto("/console/signin")
    _shot(page, "signin")
    _sign_in(page, "ops")
    page.wait_for_url("**/console/dashboard")
    # the seeded numbers: 5 good logins and 2 failed ones, 5 new users, 5 live sessions
    assert page.text_content("#logins") == "7"
    assert page.text_content("#failed") == "2"
    assert page.text_content("#new-users") == "5"
    assert page.text_content("#active-sessions") == "5"
    bars = page.locator("#logins-chart rect.bar")
    values = [float(bars.nth(i).get_attribute("data-value")) for i in range(bars.count())]
    assert sum(values) == 7
    _shot(page, "dashboard")

    page.click("text=用户")
    page.fill("#q", "熊猫")
    page.click("#search")
    assert "小熊猫 🐼" in page.text_content("#results")
    _shot(page, "users")
    page.click("#results a")
    page.wait_for_selector("#user-id")
    _shot(page, "user")
    page.fill("#disable-form input[name=reason]", "spam")
    page.click("#disable")
    disabled_at = time.monotonic()
    page.wait_for_selector("#enable")
    with httpx.Client(base_url=server.base) as client:
        while True:
            answer = client.get(
                "/v1/me", headers={"Authorization": f"Bearer {server.tokens['alice']}"}
            )
            if answer.status_code != 200 or time.monotonic() - disabled_at > 1.0:
                break
            time.sleep(0.05)
    assert answer.status_code == 403 and answer.json()["error"] == "account_disabled"
    assert time.monotonic() - disabled_at <= 1.0
    assert page.text_content("#status") == "disabled"

    # a form posted without its CSRF token is refused, with the session cookie sent
    user_id = page.text_content("#user-id")
    refused = context.request.post(f"/console/users/{user_id}/enable", form={})  # type: ignore[attr-defined]
    assert refused.status == 403 and "CSRF" in refused.text()

    page.click("text=小程序")
    assert APPID in page.text_content("#apps")
    page.goto("/console/audit?operator=ops")
    assert "user_disabled" in page.text_content("#actions")
    _shot(page, "audit")

    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "wxauth" in page.text_content(".swagger-ui .info .title")
    _shot(page, "api-docs")
    assert outside.seen and outside.refused == []
    context.close()  # type: ignore[attr-defined]


def test_a_viewer_is_refused_a_write(browser: object, server: Server) -> None:
    context, outside = _context(browser, server)
    page = context.new_page()  # type: ignore[attr-defined]
    _sign_in(page, "look")
    page.wait_for_url("**/console/dashboard")
    page.goto("/console/users?q=Bob")
    page.click("#results a")
    page.wait_for_selector("#user-id")
    assert page.locator("#disable").count() == 0
    user_id = page.text_content("#user-id")
    html = page.content()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf
    refused = context.request.post(  # type: ignore[attr-defined]
        f"/console/users/{user_id}/disable", form={"csrf": csrf.group(1), "reason": "x"}
    )
    assert refused.status == 403 and "viewer" in refused.text()
    page.reload()
    assert page.text_content("#status") == "active"
    assert outside.refused == []
    context.close()  # type: ignore[attr-defined]


def test_wrong_passwords_are_throttled(browser: object, server: Server) -> None:
    server.operators_add("target", "admin")
    context, outside = _context(browser, server)
    page = context.new_page()  # type: ignore[attr-defined]
    for _ in range(3):
        _sign_in(page, "target", "not the password at all")
        assert "错误" in page.text_content("#error")
    _sign_in(page, "target")  # the right password, but the account is throttled
    assert "秒后再试" in page.text_content("#error")
    _shot(page, "throttled")
    assert "/console/signin" in page.url
    assert outside.refused == []
    context.close()  # type: ignore[attr-defined]


def _me(base: str, token: str) -> httpx.Response:
    with httpx.Client(base_url=base) as client:
        return client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_an_admin_adds_an_app_and_disabling_it_refuses_its_token(
    browser: object, apps_server: AppsServer
) -> None:
    srv = apps_server
    context, outside = _context(browser, srv)
    page = context.new_page()  # type: ignore[attr-defined]
    _sign_in(page, "ops")
    page.wait_for_url("**/console/dashboard")
    page.goto("/console/apps")
    # the platform's state, from the store and this process's caches (no WeChat call)
    assert page.get_attribute("#ticket", "data-ok") == "yes"
    assert re.search(r"\b(19|20|21) min\b", page.text_content("#ticket"))
    assert page.get_attribute("#component-token", "data-state") == "none"
    merchants = page.text_content(f"#platform-{COMPONENT_APPID} table.merchants")
    assert MERCHANT_APPID in merchants and "商户小店" in merchants
    assert page.get_attribute(f"#app-{WITHDRAWN_APPID} td.status", "data-status") == "withdrawn"
    assert page.get_attribute(f"#app-{APPID} td.status", "data-status") == "active"
    _shot(page, "apps")

    page.fill("#add-app input[name=appid]", OTHER_APPID)
    page.fill("#add-app input[name=secret]", OTHER_SECRET)
    page.click("#add")
    page.wait_for_selector("#done")
    assert page.text_content("#status") == "active"
    assert OTHER_SECRET not in page.content()  # never shown back
    with httpx.Client() as client:
        code = client.post(f"{srv.sim}/sim/login", json={"appid": OTHER_APPID, "user": "zoe"})
        login = client.post(f"{srv.base}/v1/login",
                            json={"code": code.json()["code"], "appid": OTHER_APPID})  # fmt: skip
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    assert _me(srv.base, token).status_code == 200

    # bad settings are refused with a clear message, and change nothing
    page.fill("#settings-form input[name=session_idle_ttl]", "100000")
    page.fill("#settings-form input[name=session_max_ttl]", "3600")
    page.click("#save")
    assert "must not exceed" in page.text_content("#refused")
    page.goto(f"/console/apps/{OTHER_APPID}")
    assert "3600" not in page.text_content("#max-ttl")
    page.fill("#settings-form input[name=display_name]", "测试小店")
    page.fill("#settings-form input[name=session_max_ttl]", "86400")
    page.click("#save")
    page.wait_for_selector("#done")
    assert page.text_content("#max-ttl") == "86400"
    assert page.text_content("#live-sessions") == "1"
    _shot(page, "app")

    page.fill("#disable-form input[name=reason]", "合同到期")
    page.fill("#disable-form input[name=confirm]", OTHER_APPID)
    page.click("#disable")
    disabled_at = time.monotonic()
    page.wait_for_selector("#enable")
    while True:
        answer = _me(srv.base, token)
        if answer.status_code != 200 or time.monotonic() - disabled_at > 1.0:
            break
        time.sleep(0.05)
    assert answer.status_code in (401, 403), answer.text
    assert time.monotonic() - disabled_at <= 1.0
    assert page.text_content("#status") == "disabled"
    assert page.text_content("#live-sessions") == "0"  # its sessions ended
    page.goto("/console/audit?operator=ops")
    actions = page.text_content("#actions")
    for action in ("app_added", "app_settings_changed", "app_disabled"):
        assert action in actions
    assert OTHER_SECRET not in page.content()
    assert outside.seen and outside.refused == []
    context.close()  # type: ignore[attr-defined]


def test_a_viewer_sees_the_apps_but_no_forms_and_a_forged_post_is_refused(
    browser: object, apps_server: AppsServer
) -> None:
    context, outside = _context(browser, apps_server)
    page = context.new_page()  # type: ignore[attr-defined]
    _sign_in(page, "look")
    page.wait_for_url("**/console/dashboard")
    page.goto("/console/apps")
    assert page.get_attribute("#ticket", "data-ok") == "yes"  # the state is there to read
    assert page.locator("#add-app").count() == 0
    assert page.locator("form.authorize-link").count() == 0
    page.goto(f"/console/apps/{APPID}")
    for form in ("#disable-form", "#settings-form", "#secret-form", "#actions"):
        assert page.locator(form).count() == 0
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.content())
    assert csrf  # the sign-out form's: a viewer's session has one
    forged = context.request.post(  # type: ignore[attr-defined]
        f"/console/apps/{APPID}/disable", form={"csrf": csrf.group(1), "confirm": APPID}
    )
    assert forged.status == 403 and "viewer" in forged.text()
    unsigned = context.request.post(f"/console/apps/{APPID}/disable", form={"confirm": APPID})  # type: ignore[attr-defined]
    assert unsigned.status == 403 and "CSRF" in unsigned.text()
    page.reload()
    assert page.text_content("#status") == "active"
    assert outside.refused == []
    context.close()  # type: ignore[attr-defined]


async def _seed_latencies(settings: Settings, at: datetime, values: list[int]) -> None:
    wiring = Wiring(settings)
    try:
        for ms in values:
            await wiring.store.add_login_event(
                LoginEvent(at=at, result="ok", appid=APPID, wechat_ms=ms)
            )
    finally:
        await wiring.aclose()


def test_the_dashboard_charts_code2session_latency(browser: object, server: Server) -> None:
    db = server.cwd / "wxauth-dev.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        secret_keys=[(server.cwd / "wxauth-dev.db.key").read_text().strip()],
        session_cache_ttl=0,
    )
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    _in_a_thread(lambda: _seed_latencies(settings, hour + timedelta(minutes=5),
                                         [40, 60, 80, 100, 900]))  # fmt: skip
    context, outside = _context(browser, server)
    page = context.new_page()  # type: ignore[attr-defined]
    _sign_in(page, "ops")
    page.wait_for_url("**/console/dashboard")
    label = hour.strftime("%H:00")

    def point(series: str, at: str) -> str | None:
        found = page.locator(f'#latency-chart circle[data-series="{series}"][data-label="{at}"]')
        return found.get_attribute("data-value") if found.count() else None

    assert point("p50", label) == "80"  # the median of 40, 60, 80, 100, 900
    assert point("p95", label) == "900"
    # the logins made through the API when the server started were timed too: real
    # measurements, in another hour's slot than the seeded ones
    medians = page.locator('#latency-chart circle[data-series="p50"]')
    measured = [medians.nth(i).get_attribute("data-label") for i in range(medians.count())]
    assert len(measured) >= 2 and label in measured
    assert "ms" in page.text_content("#latency")
    _shot(page, "dashboard")
    assert outside.refused == []
    context.close()  # type: ignore[attr-defined]
