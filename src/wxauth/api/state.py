"""What the API's routes reach through the app: one typed object, :class:`ApiState`.

``app.state`` holds exactly one attribute, ``wxauth``; :func:`api_state` reads it with its
type, so a route that asks for something the state does not have fails mypy, not a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from wxauth.api.clientip import ClientIp
from wxauth.api.ratelimit import RateLimiter
from wxauth.config import Settings
from wxauth.wiring import Wiring


@dataclass(frozen=True, slots=True)
class ApiState:
    settings: Settings
    wiring: Wiring
    limiter: RateLimiter
    client_ip: ClientIp


def api_state(connection: HTTPConnection) -> ApiState:
    state: ApiState = connection.app.state.wxauth
    return state
