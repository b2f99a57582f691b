"""The registry's changes (shared by ``wxauth apps`` and the console): each one checked
before anything is written, secrets encrypted, disabling ending the app's sessions."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from wxauth.core.app_admin import AppAdmin, with_settings
from wxauth.core.apps import WITHDRAWN, AppRegistry, disabled
from wxauth.core.insights import percentile
from wxauth.core.keyring import Keyring, generate_key
from wxauth.core.memory import MemoryStore
from wxauth.core.models import APP_ACTIVE, App, ClientInfo, LoginRecord
from wxauth.core.tokens import SessionPolicy, new_token
from wxauth.errors import InvalidRequest, NotFound

A, B, SEEDED = "wx1111111111111111", "wx2222222222222222", "wx3333333333333333"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = SessionPolicy(
    idle_ttl=timedelta(days=7), max_ttl=timedelta(days=30), touch_interval=timedelta(minutes=5)
)


def admin(store: MemoryStore, keyring: Keyring) -> AppAdmin:
    registry = AppRegistry(store, seed={SEEDED: "seeded-secret"})
    return AppAdmin(store=store, registry=registry, keyring=lambda: keyring, clock=lambda: NOW,
                    seeded={SEEDED})  # fmt: skip


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([base64.urlsafe_b64decode(generate_key())])


async def test_add_encrypts_the_secret_and_refuses_an_existing_app_when_asked(
    keyring: Keyring,
) -> None:
    store = MemoryStore()
    saved = await admin(store, keyring).add(A, secret="s3cret", changes={"display_name": " 店 "})
    assert saved.secret_enc and "s3cret" not in saved.secret_enc
    assert keyring.decrypt(saved.secret_enc) == "s3cret" and saved.display_name == "店"
    assert "s3cret" not in repr(saved)
    with pytest.raises(InvalidRequest, match="already served"):
        await admin(store, keyring).add(A, secret="other", exists_ok=False)
    with pytest.raises(InvalidRequest, match="already served"):
        await admin(store, keyring).add(SEEDED, secret="other", exists_ok=False)
    with pytest.raises(InvalidRequest, match="needs its app secret"):
        await admin(store, keyring).add(B, secret=None)
    assert [a.appid for a in await store.list_apps()] == [A]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"session_idle_ttl": 59}, "from 60"),
        ({"session_max_ttl": 10**9}, "to 31622400"),
        ({"rate_limit_login": -1}, "from 0"),
        ({"rate_limit_login": True}, "whole number"),
        ({"session_idle_ttl": 7200, "session_max_ttl": 3600}, "must not exceed"),
        ({"display_name": "x" * 101}, "display name"),
        ({"secret_enc": "x"}, "not an app setting"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        with_settings(App(appid=A), changes)  # type: ignore[arg-type]


def test_a_change_is_checked_against_what_the_app_already_has() -> None:
    app = App(appid=A, session_max_ttl=3600)
    with pytest.raises(InvalidRequest, match="must not exceed"):
        with_settings(app, {"session_idle_ttl": 7200})
    assert with_settings(app, {"session_max_ttl": None}).session_max_ttl is None


async def test_disable_ends_the_apps_live_sessions_only(keyring: Keyring) -> None:
    store = MemoryStore()
    for appid in (A, A, B):
        session = POLICY.new_session(new_token(), "", appid, NOW, ClientInfo())
        await store.record_login(LoginRecord(appid=appid, openid=f"o-{new_token()[:8]}",
                                             unionid=None, session_key_ciphertext="k",
                                             session=session))  # fmt: skip
    await store.save_app(App(appid=A, created_at=NOW))
    assert await admin(store, keyring).disable(A, reason="done") == 2
    assert await store.count_live_sessions(NOW, appid=A) == 0
    assert await store.count_live_sessions(NOW, appid=B) == 1
    found = await store.get_app(A)
    assert found is not None and (found.status, found.disabled_reason) == ("disabled", "done")
    with pytest.raises(InvalidRequest, match="reason"):
        await admin(store, keyring).disable(A, reason="x" * 201)


async def test_a_seeded_app_gets_a_row_a_withdrawn_one_stays_disabled(keyring: Keyring) -> None:
    store = MemoryStore()
    await admin(store, keyring).disable(SEEDED)
    found = await store.get_app(SEEDED)
    assert found is not None and found.status == "disabled" and found.secret_enc is None
    await admin(store, keyring).enable(SEEDED)
    assert (await store.get_app(SEEDED)).status == APP_ACTIVE  # type: ignore[union-attr]
    await store.save_app(disabled(App(appid=B, mode="platform"), WITHDRAWN, NOW))
    with pytest.raises(InvalidRequest, match="authorize it again"):
        await admin(store, keyring).enable(B)
    with pytest.raises(NotFound):
        await admin(store, keyring).enable("wx9999999999999999")
    removed = dataclasses.replace(App(appid=A), status="removed")
    await store.save_app(removed)
    with pytest.raises(NotFound):
        await admin(store, keyring).update(A, {"session_max_ttl": 3600})


@pytest.mark.parametrize(
    ("histogram", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([(40, 1), (60, 1), (80, 1), (100, 1), (900, 1)], 0.5, 80),
        ([(40, 1), (60, 1), (80, 1), (100, 1), (900, 1)], 0.95, 900),
        ([(10, 99), (500, 1)], 0.95, 10),
        ([(10, 94), (500, 6)], 0.95, 500),
        ([(500, 1), (10, 3)], 0.5, 10),  # unsorted input
        ([(7, 0)], 0.5, None),
    ],
)
def test_percentile_is_the_nearest_rank(
    histogram: list[tuple[int, int]], fraction: float, expected: int | None
) -> None:
    assert percentile(histogram, fraction) == expected
