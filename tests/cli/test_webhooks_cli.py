"""``wxauth webhooks`` against a running API on the same database, whose own worker (started
by its lifespan) delivers to a real receiver."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import APPID, Harness, bearer
from tests.conftest import open_harness as open_api
from tests.webhooks.receiver import Receiver, eventually
from wxauth.cli import app
from wxauth.config import Settings
from wxauth.core.keyring import Keyring
from wxauth.integrations.webhooks import InvalidWebhook, verify
from wxauth.simulator import SimulatorState
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore

QUICK = {
    "app_registry_ttl": 0.05,
    "webhook_allow_private": True,
    "webhook_poll_interval": 0.05,
    "webhook_retry_base": 0.05,
    "webhook_retry_max": 0.2,
}


@pytest.fixture
async def live(settings: Settings, sim_state: SimulatorState) -> AsyncIterator[Harness]:
    h, api = await open_api(settings.model_copy(update=QUICK), sim_state)
    async with api.router.lifespan_context(api):  # the delivery worker runs meanwhile
        yield h
    await h.api.aclose()
    await h.phone.aclose()


async def wxauth(settings: Settings, *args: str, private: bool = True) -> Result:
    env = {
        "WXAUTH_DATABASE_URL": settings.database_url,
        "WXAUTH_CONFIG": "",
        "WXAUTH_APPS": f"{APPID}:{settings.apps[APPID].get_secret_value()}",
        "WXAUTH_SECRET_KEYS": settings.secret_keys[0].get_secret_value(),
        "WXAUTH_WEBHOOK_ALLOW_PRIVATE": "1" if private else "0",
    }
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), env=env))


async def add(settings: Settings, url: str, events: str) -> tuple[str, str]:
    added = await wxauth(settings, "webhooks", "add", url, "--events", events)
    assert added.exit_code == 0, added.output
    found = dict(re.findall(r"^(id|secret): (\S+)$", added.stdout, re.MULTILINE))
    return found["id"], found["secret"]


async def stored_secret(settings: Settings, subscription_id: str) -> str:
    engine = create_engine(settings.database_url)
    try:
        sub = await SqlStore(engine).webhooks.get_subscription(subscription_id)
    finally:
        await engine.dispose()
    assert sub is not None
    return sub.secret_enc


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["ftp://hooks.test/x", "--events", "user.created"], "starts with https://"),
        (["http://169.254.169.254/", "--events", "user.created"], "cloud metadata address"),
        (["https://h.test/x", "--events", "user.made"], "unknown event type user.made: choose"),
        (["https://h.test/x", "--events", ","], "unknown event type (none given)"),
        (["https://h.test/x", "--events", "*", "--appid", "wx1"], "is not an appid"),
    ],
)
async def test_mistakes_are_one_line_and_change_nothing(
    settings: Settings, args: list[str], line: str
) -> None:
    result = await wxauth(settings, "webhooks", "add", *args)
    assert result.exit_code == 2
    [error] = result.stderr.strip().splitlines()
    assert error.startswith("error: ") and line in error
    assert "no webhook subscriptions" in (await wxauth(settings, "webhooks", "list")).stdout


async def test_loopback_is_refused_unless_allowed(settings: Settings) -> None:
    for url in ("http://127.0.0.1:9/hooks", "http://localhost:9/hooks"):
        result = await wxauth(
            settings, "webhooks", "add", url, "--events", "user.created", private=False
        )
        assert result.exit_code == 2
        assert "loopback address (allowed with WXAUTH_WEBHOOK_ALLOW_PRIVATE=1)" in result.stderr


async def test_added_listed_disabled_and_removed(settings: Settings) -> None:
    sub_id, secret = await add(settings, "https://hooks.test/wxauth", "user.updated,user.created")
    assert secret.startswith("whsec_") and sub_id.startswith("wh_")
    keyring = Keyring(settings.secret_key_bytes())
    assert keyring.decrypt(await stored_secret(settings, sub_id)) == secret  # encrypted at rest
    listed = await wxauth(settings, "webhooks", "list")
    assert sub_id in listed.stdout and "user.created,user.updated" in listed.stdout
    assert secret not in listed.stdout and "enabled" in listed.stdout
    assert (await wxauth(settings, "webhooks", "disable", sub_id)).exit_code == 0
    assert "disabled" in (await wxauth(settings, "webhooks", "list")).stdout
    missing = await wxauth(settings, "webhooks", "enable", "wh_nope")
    assert missing.exit_code == 2 and "no webhook subscription wh_nope" in missing.stderr
    assert (await wxauth(settings, "webhooks", "remove", sub_id, "--yes")).exit_code == 0
    assert "no webhook subscriptions" in (await wxauth(settings, "webhooks", "list")).stdout
    again = await wxauth(settings, "webhooks", "remove", sub_id, "--yes")
    assert again.exit_code == 2


async def test_the_api_reports_what_happens_and_deliveries_can_be_replayed(
    live: Harness, settings: Settings
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        sub_id, secret = await add(settings, receiver.url, "*")
        await asyncio.sleep(0.1)  # the API's subscriptions reload (app_registry_ttl: 0.05 s)
        body = await live.login("alice")
        token, user_id = body["token"], body["user"]["id"]
        profile = {"nickName": "小明 🐼"}
        assert (
            await live.api.post("/v1/me/profile", json=profile, headers=bearer(token))
        ).status_code == 200
        disabled = await wxauth(settings, "users", "disable", user_id, "--reason", "spam")
        assert disabled.exit_code == 0, disabled.output
        await eventually(lambda: len(receiver.received) == 4)
        events = [verify(secret, r.headers, r.body) for r in receiver.received]
        assert [e["type"] for e in events] == [
            "user.created",
            "user.updated",
            "user.disabled",
            "session.revoked",
        ]
        assert events[1]["data"]["changes"] == {"nickname": "小明 🐼"}
        assert all(e["data"]["user_id"] == user_id and e["appid"] == APPID for e in events)
        assert not any(token in r.body.decode() for r in receiver.received)

        listed = await wxauth(settings, "webhooks", "deliveries", sub_id, "--state", "delivered")
        rows = [line.split() for line in listed.stdout.splitlines()[1:]]
        assert [row[2] for row in rows] == [
            "session.revoked",
            "user.disabled",
            "user.updated",
            "user.created",
        ]
        dead = await wxauth(settings, "webhooks", "deliveries", "--state", "dead")
        assert "no deliveries" in dead.stdout

        first_id = rows[-1][0]
        replayed = await wxauth(settings, "webhooks", "replay", first_id)
        assert "queued 1 deliveries again" in replayed.stdout
        await eventually(lambda: len(receiver.received) == 5)
        assert receiver.received[4].headers["webhook-id"] == events[0]["id"]

        rotated = await wxauth(settings, "webhooks", "rotate-secret", sub_id)
        [new_secret] = re.findall(r"^secret: (\S+)$", rotated.stdout, re.MULTILINE)
        await asyncio.sleep(0.1)
        await wxauth(settings, "users", "enable", user_id)
        await eventually(lambda: len(receiver.received) == 6)
        last = receiver.received[5]
        assert verify(new_secret, last.headers, last.body)["type"] == "user.enabled"
        with pytest.raises(InvalidWebhook):
            verify(secret, last.headers, last.body)
    finally:
        await receiver.stop()


async def test_replay_needs_something_to_replay(settings: Settings) -> None:
    result = await wxauth(settings, "webhooks", "replay")
    assert result.exit_code == 2 and "--dead SUBSCRIPTION_ID" in result.stderr
    bad = await wxauth(settings, "webhooks", "deliveries", "--state", "lost")
    assert bad.exit_code == 2 and "pending, delivered, dead" in bad.stderr
