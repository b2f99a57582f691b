"""``wxauth demo``: play the mini program of the original flow against a running server.

checkSession → wx.login → POST /v1/login → store the token → send the profile → read it back.
The phone side is the simulator's ``/sim/*``, so the server must run with the simulator
(``wxauth dev``) or point ``--simulator`` at one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

DEMO_APPID = "wxd0e0000000000001"
DEMO_SECRET = "demo-secret-not-for-production"  # noqa: S105 - the simulator's demo app
DEMO_PROFILE = {"nickName": "小程序用户 🐼", "avatarUrl": "https://example.com/avatar/panda.png"}


class DemoFailed(Exception):
    pass


def _expect(response: httpx.Response, status: int, step: str) -> Any:
    if response.status_code != status:
        raise DemoFailed(f"{step}: HTTP {response.status_code} {response.text}")
    return response.json() if response.content else None


def run_demo(
    server: str,
    *,
    appid: str = DEMO_APPID,
    user: str = "demo-user",
    simulator: str | None = None,
    say: Callable[[str], None] = print,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Walk the flow once, printing each step; return the user read back at the end."""
    storage: dict[str, str] = {}  # stands in for wx.setStorageSync
    with (
        httpx.Client(base_url=server, timeout=10, transport=transport) as api,
        httpx.Client(base_url=simulator or server, timeout=10, transport=transport) as phone,
    ):
        phone_user = {"appid": appid, "user": user}
        check = _expect(phone.post("/sim/check-session", json=phone_user), 200, "checkSession")
        say(f"1. wx.checkSession → {check['errMsg']}")
        code = _expect(phone.post("/sim/login", json=phone_user), 200, "wx.login")["code"]
        say(f"2. wx.login → code {code[:6]}…")
        login = _expect(api.post("/v1/login", json={"code": code, "appid": appid}), 200, "login")
        storage["wxauth_token"] = login["token"]
        say(
            f"3. POST /v1/login → user {login['user']['id']} (new_user={login['new_user']}), "
            f"token valid {login['expires_in']} s"
        )
        say("4. wx.setStorageSync('wxauth_token', …) → stored")
        headers = {"Authorization": f"Bearer {storage['wxauth_token']}"}
        _expect(api.post("/v1/me/profile", json=DEMO_PROFILE, headers=headers), 200, "profile")
        say(f"5. POST /v1/me/profile → nickname {DEMO_PROFILE['nickName']}")
        me: dict[str, Any] = _expect(api.get("/v1/me", headers=headers), 200, "me")
        say(f"6. GET /v1/me → {me['nickname']} ({me['avatar_url']})")
        if me["nickname"] != DEMO_PROFILE["nickName"]:
            raise DemoFailed("the profile read back differs from the one sent")
        return me
