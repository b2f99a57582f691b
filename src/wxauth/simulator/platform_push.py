"""How the simulator pushes to a platform's event URL: signed, encrypted XML, as WeChat does.

``push`` sends one event; ``TicketTimer`` pushes a fresh ``component_verify_ticket`` to every
platform with a push URL when it starts and then every ``ticket_interval_s`` (WeChat: ten
minutes). A push that fails is reported, never raised: WeChat does not care either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from wxauth.simulator.component import ComponentState, SimPlatform
from wxauth.wechat.component_crypto import to_xml
from wxauth.wechat.component_push import VERIFY_TICKET

log = logging.getLogger(__name__)

PUSH_TIMEOUT_S = 5.0  # WeChat waits 5 s for "success"


@dataclass(frozen=True, slots=True)
class PushOutcome:
    url: str | None
    status: int | None = None
    answer: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.answer.strip() == "success"

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "answer": self.answer,
            "error": self.error,
            "ok": self.ok,
        }


async def push(
    state: ComponentState, platform: SimPlatform, fields: dict[str, str | int], now: float
) -> PushOutcome:
    """POST one event (``InfoType`` and its fields) to the platform's push URL."""
    if platform.push_url is None:
        return PushOutcome(None, error="the platform has no push URL")
    message = to_xml({"AppId": platform.component_appid, "CreateTime": int(now), **fields})
    timestamp, nonce = str(int(now)), str(secrets.randbelow(10**10))
    body, msg_signature = platform.crypto().seal(message, timestamp=timestamp, nonce=nonce)
    params = {
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": msg_signature,
    }
    async with httpx.AsyncClient(
        transport=state.push_transport, timeout=PUSH_TIMEOUT_S, trust_env=False
    ) as client:
        try:
            answer = await client.post(
                platform.push_url,
                params=params,
                content=body.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            log.warning("push to %s failed: %s", platform.push_url, type(exc).__name__)
            return PushOutcome(platform.push_url, error=type(exc).__name__)
    return PushOutcome(platform.push_url, answer.status_code, answer.text[:500])


async def push_ticket(
    state: ComponentState, platform: SimPlatform, now: float
) -> tuple[str, PushOutcome]:
    """Issue a component_verify_ticket (valid whether or not it arrives) and push it."""
    ticket = state.issue_ticket(platform.component_appid, now)
    fields: dict[str, str | int] = {"InfoType": VERIFY_TICKET, "ComponentVerifyTicket": ticket}
    return ticket, await push(state, platform, fields, now)


class TicketTimer:
    """Pushes tickets on a timer while entered (``async with TicketTimer(...)``)."""

    def __init__(self, state: ComponentState, clock: Callable[[], float]) -> None:
        self._state = state
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    async def _run(self, platform: SimPlatform) -> None:
        while True:
            _, outcome = await push_ticket(self._state, platform, self._clock())
            if not outcome.ok:
                log.info("ticket push to %s: %s", outcome.url, outcome.error or outcome.status)
            await asyncio.sleep(platform.ticket_interval_s)

    async def __aenter__(self) -> TicketTimer:
        for platform in self._state.platforms.values():
            if platform.push_url is not None:
                self._tasks.append(asyncio.create_task(self._run(platform)))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
