"""The console in a real browser: Debian's chromium, driven by Playwright, against a real
``wxauth dev`` seeded through the API and the simulator.

Every request the browser makes is checked to go to the server under test (nothing from a
CDN or anywhere else). The screenshots in ``docs/console/`` are written by these tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from ..processes import WXAUTH, free_port, running

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
APPID = "wxd0e0000000000001"  # the dev server's demo app
PASSWORD = "correct horse battery staple"


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


def _context(browser: object, server: Server) -> tuple[object, Outside]:
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
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


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
    _shot(page, "apps")
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
