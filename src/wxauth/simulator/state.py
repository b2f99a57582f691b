"""The simulator's world: apps, users, login codes, session_keys, faults and call counts."""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from wxauth.simulator.component import ComponentState, SimPlatform
from wxauth.simulator.wxa import WxaState

CODE_TTL_S = 300
SESSION_KEY_TTL_S = 3 * 86_400


@dataclass(frozen=True, slots=True)
class SimApp:
    appid: str
    secret: str = field(repr=False)
    unionid: bool = True  # bound to an Open Platform account: code2Session returns a unionid

    @classmethod
    def parse(cls, spec: str) -> SimApp:
        appid, sep, secret = spec.partition(":")
        if not sep or not appid or not secret:
            raise ValueError("an app is given as APPID:SECRET")
        return cls(appid, secret)


@dataclass(slots=True)
class CodeGrant:
    appid: str
    user: str
    session_key: str
    issued_at: float
    used: bool = False


@dataclass(slots=True)
class KeyState:
    session_key: str
    issued_at: float


FAULT_KEYS = frozenset({"path", "rate", "errcode", "timeout", "drop", "latency_ms"})


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One fault: on ``path`` (None: every WeChat path) at ``rate``, answer or misbehave."""

    rate: float
    path: str | None = None
    errcode: int | None = None
    timeout: bool = False
    drop: bool = False
    latency_ms: int = 0

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """Read a rule such as ``{"path": "/sns/jscode2session", "rate": 0.2, "errcode": -1}``."""
        if not isinstance(data, dict):
            raise ValueError("a fault rule is a JSON object")
        unknown = set(data) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(map(str, unknown)))}")
        rate = float(data.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        path = data.get("path")
        errcode = data.get("errcode")
        latency = int(data.get("latency_ms", 0))
        if latency < 0:
            raise ValueError("latency_ms must not be negative")
        return cls(
            rate=rate,
            path=str(path) if path is not None else None,
            errcode=int(errcode) if errcode is not None else None,
            timeout=bool(data.get("timeout", False)),
            drop=bool(data.get("drop", False)),
            latency_ms=latency,
        )

    def matches(self, path: str) -> bool:
        return self.path is None or self.path == path


def openid_for(appid: str, user: str) -> str:
    """Stable per (appid, user), like WeChat's: 28 characters starting with 'o'."""
    digest = hashlib.sha256(f"openid\0{appid}\0{user}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]


def unionid_for(user: str) -> str:
    """One per person across every app, like an Open Platform UnionID."""
    digest = hashlib.sha256(f"unionid\0{user}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]


def new_session_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


class SimulatorState:
    def __init__(
        self,
        apps: list[SimApp],
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        faults: list[FaultRule] | None = None,
        echo_ok: bool = False,
        platforms: list[SimPlatform] | None = None,
        push_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.apps = {app.appid: app for app in apps}
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - fault rates, not secrets
        self.faults: list[FaultRule] = list(faults or [])
        self.echo_ok = echo_ok  # answer code2Session with errcode 0 / errmsg "ok" beside the data
        self.codes: dict[str, CodeGrant] = {}
        self.keys: dict[tuple[str, str], KeyState] = {}
        self.users_by_openid: dict[tuple[str, str], str] = {}
        self.calls: Counter[str] = Counter()
        self.wxa = WxaState()  # access tokens, phone codes and numbers
        # Open Platform third-party platforms; pushes go through push_transport when given.
        self.component = ComponentState(platforms or [], self.wxa, push_transport=push_transport)

    def issue_code(self, appid: str, user: str) -> str:
        """What ``wx.login`` does: a fresh code, and a rotated session_key behind it."""
        now = self.clock()
        self._expire_codes(now)
        key = KeyState(new_session_key(), now)
        self.keys[(appid, user)] = key
        self.users_by_openid[(appid, openid_for(appid, user))] = user
        code = secrets.token_urlsafe(24)
        self.codes[code] = CodeGrant(appid, user, key.session_key, now)
        return code

    def session_valid(self, appid: str, user: str) -> bool:
        """What ``wx.checkSession`` answers: the newest session_key is still alive."""
        key = self.keys.get((appid, user))
        return key is not None and self.clock() - key.issued_at < SESSION_KEY_TTL_S

    def expire_session(self, appid: str, user: str) -> None:
        self.keys.pop((appid, user), None)

    def current_key(self, appid: str, user: str) -> str | None:
        key = self.keys.get((appid, user))
        return key.session_key if key else None

    def pick_fault(self, path: str) -> list[FaultRule]:
        return [r for r in self.faults if r.matches(path) and self.rng.random() < r.rate]

    def _expire_codes(self, now: float) -> None:
        # Codes are kept in issue order, so the expired ones are at the front.
        while self.codes:
            oldest = next(iter(self.codes))
            if now - self.codes[oldest].issued_at <= CODE_TTL_S:
                break
            del self.codes[oldest]
