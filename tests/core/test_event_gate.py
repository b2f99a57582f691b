"""The webhook subscriptions' snapshot: a slow reload never holds a write up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from wxauth.core.webhooks import EventGate, Subscription

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def subscription(ident: str) -> Subscription:
    return Subscription(ident, "https://hooks.example/in", ("user.created",), "enc", NOW, NOW)


async def test_a_slow_reload_answers_with_the_last_snapshot() -> None:
    found = [subscription("a")]
    delay = 0.0
    ticks = [100.0]

    async def load() -> list[Subscription]:
        await asyncio.sleep(delay)
        return list(found)

    gate = EventGate(load, ttl=1.0, monotonic=lambda: ticks[0])
    assert [s.id for s in (await gate.current()).subscriptions] == ["a"]
    found.append(subscription("b"))
    delay, ticks[0] = 0.5, ticks[0] + 2.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert [s.id for s in (await gate.current()).subscriptions] == ["a"]  # at once, stale
    assert loop.time() - started < delay
    await gate.settled()
    assert [s.id for s in (await gate.current()).subscriptions] == ["a", "b"]
    await gate.aclose()


async def test_the_first_load_is_waited_for_and_its_failure_raised() -> None:
    async def broken() -> list[Subscription]:
        raise OSError("database down")

    with pytest.raises(OSError):
        await EventGate(broken, ttl=1.0).current()
