"""A circuit breaker per appid in front of code2Session.

When WeChat is down, every login would otherwise wait out the full timeout and pile up
connections. After ``failures`` unavailability errors in a row for one appid the circuit
opens: logins for that appid fail at once with 503 ``wechat_unavailable`` and a Retry-After
telling how long until the next try. After ``cooldown`` seconds one probe call goes through
(half-open); its success closes the circuit, its failure opens it again.

Only :class:`~wxauth.errors.WeChatUnavailable` counts as a failure: a bad code or a blocked
user is WeChat working, not WeChat failing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from wxauth.errors import WeChatUnavailable, WxAuthError
from wxauth.wechat.client import WeChatSession


@dataclass(slots=True)
class Circuit:
    """The state of one appid's circuit."""

    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class CircuitBreaker:
    """Decides, per key, whether a call may go out; told of each call's outcome."""

    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self._clock = clock
        self._circuits: dict[str, Circuit] = {}

    def state(self, key: str) -> str:
        """``closed``, ``open`` or ``half-open`` (a probe may go or is under way)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        return "open" if self._remaining(circuit) > 0 else "half-open"

    def before_call(self, key: str) -> None:
        """Raise :class:`WeChatUnavailable` unless a call for ``key`` may go out now."""
        circuit = self._circuits.setdefault(key, Circuit())
        if circuit.opened_at is None:
            return
        remaining = self._remaining(circuit)
        if remaining > 0 or circuit.probing:
            retry_after = max(1, math.ceil(remaining or self.cooldown))
            raise WeChatUnavailable(
                "WeChat is failing; logins are paused briefly. Retry later.",
                retry_after=retry_after,
            )
        circuit.probing = True  # this call is the probe; the others keep failing fast

    def succeeded(self, key: str) -> None:
        self._circuits[key] = Circuit()

    def failed(self, key: str) -> None:
        circuit = self._circuits.setdefault(key, Circuit())
        circuit.failures += 1
        circuit.probing = False
        if circuit.opened_at is not None or circuit.failures >= self.threshold:
            circuit.opened_at = self._clock()

    def abandoned(self, key: str) -> None:
        """The call ended without an answer either way (cancelled): let another probe go."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing = False

    def _remaining(self, circuit: Circuit) -> float:
        assert circuit.opened_at is not None
        return circuit.opened_at + self.cooldown - self._clock()


class Code2Session(Protocol):
    async def code2session(self, appid: str, secret: str, code: str) -> WeChatSession: ...


class WeChatWithBreaker:
    """A code2Session (the core's ``WeChatGateway``) that goes through a breaker per appid."""

    def __init__(self, wechat: Code2Session, breaker: CircuitBreaker) -> None:
        self._wechat = wechat
        self.breaker = breaker

    def __repr__(self) -> str:
        return f"WeChatWithBreaker({self._wechat!r})"

    async def code2session(self, appid: str, secret: str, code: str) -> WeChatSession:
        self.breaker.before_call(appid)
        try:
            result = await self._wechat.code2session(appid, secret, code)
        except WeChatUnavailable:
            self.breaker.failed(appid)
            raise
        except WxAuthError:
            self.breaker.succeeded(appid)  # WeChat answered (a bad code, a blocked user): it is up
            raise
        except BaseException:
            self.breaker.abandoned(appid)
            raise
        self.breaker.succeeded(appid)
        return result
