"""A circuit breaker per appid in front of code2Session.

When WeChat is down, every login would otherwise wait out the full timeout and pile up
connections. After ``failures`` unavailability errors in a row for one appid the circuit
opens: logins for that appid fail at once with 503 ``wechat_unavailable`` and a Retry-After
telling how long until the next try.

Once ``cooldown`` seconds have passed since the last failure, the circuit is half-open: the
next call goes out as the probe, and the calls that arrive meanwhile wait for its outcome
(at most ``probe_wait`` seconds) instead of failing. The probe's success closes the circuit
and every waiting call proceeds at once, so a burst that arrives after a quiet minute, or
just as WeChat recovers, gets in; the probe's failure opens the circuit again for a full
cooldown and the waiting calls fail fast. Failures further apart than the cooldown are not
"in a row": an old one is forgotten.

Only :class:`~wxauth.errors.WeChatUnavailable` counts as a failure: a bad code or a blocked
user is WeChat working, not WeChat failing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from wxauth.errors import WeChatUnavailable, WxAuthError
from wxauth.wechat.client import WeChatSession

PAUSED = "WeChat is failing; logins are paused briefly. Retry later."


@dataclass(slots=True)
class Circuit:
    """The state of one appid's circuit."""

    failures: int = 0
    last_failure: float | None = None
    opened_at: float | None = None
    probe: asyncio.Event | None = None  # set when the probe under way ends, however it ends


class CircuitBreaker:
    """Decides, per key, whether a call may go out; told of each call's outcome."""

    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown: float = 10.0,
        probe_wait: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.probe_wait = probe_wait
        self._clock = clock
        self._circuits: dict[str, Circuit] = {}

    def state(self, key: str) -> str:
        """``closed``, ``open`` or ``half-open`` (a probe may go or is under way)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        return "open" if self._remaining(circuit) > 0 else "half-open"

    async def before_call(self, key: str) -> None:
        """Return when a call for ``key`` may go out; raise :class:`WeChatUnavailable` if
        the circuit is open, or if the probe it waited for failed or did not end in time."""
        deadline: float | None = None
        while True:
            circuit = self._circuits.get(key)
            if circuit is None or circuit.opened_at is None:
                return
            remaining = self._remaining(circuit)
            if remaining > 0:
                raise WeChatUnavailable(PAUSED, retry_after=max(1, math.ceil(remaining)))
            if circuit.probe is None:
                circuit.probe = asyncio.Event()  # this call is the probe
                return
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.probe_wait
            try:
                await asyncio.wait_for(circuit.probe.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise WeChatUnavailable(PAUSED, retry_after=1) from None

    def succeeded(self, key: str) -> None:
        circuit = self._circuits.pop(key, None)
        if circuit is not None and circuit.probe is not None:
            circuit.probe.set()  # the waiting calls go out

    def failed(self, key: str) -> None:
        now = self._clock()
        circuit = self._circuits.setdefault(key, Circuit())
        last = circuit.last_failure
        if circuit.opened_at is None and last is not None and now - last > self.cooldown:
            circuit.failures = 0  # long ago: not in a row with this one
        circuit.failures += 1
        circuit.last_failure = now
        if circuit.opened_at is not None or circuit.failures >= self.threshold:
            circuit.opened_at = now
        self._end_probe(circuit)

    def abandoned(self, key: str) -> None:
        """The call ended without an answer either way (cancelled): let another probe go."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            self._end_probe(circuit)

    @staticmethod
    def _end_probe(circuit: Circuit) -> None:
        if circuit.probe is not None:
            circuit.probe.set()
            circuit.probe = None

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
        await self.breaker.before_call(appid)
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
