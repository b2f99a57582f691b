"""`wxauth keys rotate`'s work on a real database: every column written under the at-rest
keys is re-encrypted under the newest one, a value no key opens is counted by kind, and a
row written meanwhile is never overwritten."""

from __future__ import annotations

import base64

import pytest

from wxauth.core.keyring import Keyring, generate_key
from wxauth.core.models import App
from wxauth.core.webhooks import Subscription
from wxauth.storage.rekey import ENCRYPTED, remedies, rotate_stored_secrets
from wxauth.storage.sql import SqlStore

from .conftest import emptied
from .test_store_contract import NOW, OTHER_APPID, login_record

APPID = "wx1111111111111111"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{request.getfixturevalue('db_path')}"
    return str(request.getfixturevalue("postgres_url"))


def new_key() -> bytes:
    return base64.urlsafe_b64decode(generate_key())


async def test_every_encrypted_column_moves_to_the_newest_key(url: str) -> None:
    old, new = new_key(), new_key()
    before = Keyring([old])
    engine = await emptied(url)
    store = SqlStore(engine)
    await store.record_login(login_record("o-a", key=before.encrypt("session-key")))
    await store.save_app(App(APPID, secret_enc=before.encrypt("app-secret"), created_at=NOW))
    await store.save_app(App(OTHER_APPID, created_at=NOW))  # no secret: nothing to rotate
    await store.save_component_ticket("wx3333333333333333", before.encrypt("ticket"), NOW)
    hook = Subscription(
        "sub-1", "https://hooks.example/in", ("user.created",), before.encrypt("whsec_x"), NOW, NOW
    )
    await store.webhooks.add_subscription(hook)

    both, newest = Keyring([new, old]), Keyring([new])
    report = await rotate_stored_secrets(engine, both, newest)
    assert (report.rotated, report.current, report.unreadable) == (4, 0, 0)
    app = await store.get_app(APPID)
    assert app is not None and newest.decrypt(app.secret_enc or "") == "app-secret"
    assert newest.decrypt(await store.get_session_key(APPID, "o-a") or "") == "session-key"
    ticket = await store.get_component_ticket("wx3333333333333333")
    assert ticket is not None and newest.decrypt(ticket[0]) == "ticket"
    stored = await store.webhooks.get_subscription("sub-1")
    assert stored is not None and newest.decrypt(stored.secret_enc) == "whsec_x"

    again = await rotate_stored_secrets(engine, both, newest)
    assert (again.rotated, again.current, again.unreadable) == (0, 4, 0)

    # A key that is gone: counted by kind, with what replaces each, never a value shown.
    lost = await rotate_stored_secrets(engine, Keyring([new_key()]), Keyring([old]))
    assert lost.unreadable == 4
    advice = remedies(lost)
    assert len(advice) == 4 and any("wxauth apps rotate-secret" in a for a in advice)
    assert not any("app-secret" in a or "whsec_x" in a for a in advice)
    assert {e.what for e in ENCRYPTED} >= set(lost.unreadable_by_kind)
    await engine.dispose()
