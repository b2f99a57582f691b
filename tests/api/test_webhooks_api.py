"""The API's changes reach the outbox in their own transactions, and only when a
subscription wants them: without one, the same flow writes no row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from tests.conftest import Harness, bearer
from wxauth.core.webhooks import EVENT_TYPES, Subscription, new_subscription_id
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore
from wxauth.storage.tables import webhook_deliveries


async def flow(harness: Harness) -> str:
    """A login, a profile change, a second device logged out, the account closed."""
    first = await harness.login("alice")
    token = first["token"]
    profile = {"nickName": "小明 🐼", "city": "杭州"}
    assert (
        await harness.api.post("/v1/me/profile", json=profile, headers=bearer(token))
    ).status_code == 200
    second = (await harness.login("alice"))["token"]
    assert (await harness.api.post("/v1/logout", headers=bearer(second))).status_code == 204
    closed = await harness.api.post(
        "/v1/me/delete", json={"confirm": "DELETE"}, headers=bearer(token)
    )
    assert closed.status_code == 200 and closed.json()["deleted"] is True
    user_id: str = first["user"]["id"]
    return user_id


async def rows(db_path: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                select(webhook_deliveries.c.event_type, webhook_deliveries.c.payload).order_by(
                    webhook_deliveries.c.id
                )
            )
            return [(t, p) for t, p in found.all()]
    finally:
        await engine.dispose()


async def test_without_subscriptions_no_outbox_row(harness: Harness, db_path: Path) -> None:
    await flow(harness)
    assert await rows(db_path) == []


async def test_with_one_every_change_is_in_the_outbox(harness: Harness, db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    now = datetime.now(UTC)
    sub = Subscription(
        id=new_subscription_id(),
        url="https://hooks.example.com/x",
        events=EVENT_TYPES,
        secret_enc="unused",
        created_at=now,
        updated_at=now,
    )
    store = SqlStore(engine)
    await store.webhooks.add_subscription(sub)
    store.writes.close()
    await engine.dispose()
    user_id = await flow(harness)
    found = await rows(db_path)
    assert [t for t, _ in found] == [
        "user.created",
        "user.updated",
        "session.revoked",  # the second device's logout
        "user.deleted",  # erased at once, its sessions with it
    ]
    payloads = [json.loads(p) for _, p in found]
    assert payloads[1]["data"]["changes"] == {"nickname": "小明 🐼", "city": "杭州"}
    assert payloads[2]["data"]["reason"] == "logout"
    assert {p["data"]["user_id"] for p in payloads} == {user_id}
