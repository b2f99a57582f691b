"""The service keys other backends present (``Authorization: Bearer <service key>``), with
their scopes and apps (see ``WXAUTH_SERVICE_KEYS`` in :mod:`wxauth.config`)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wxauth.api.state import api_state
from wxauth.config import ServiceKey
from wxauth.errors import Forbidden, InvalidToken

service_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ServiceKey",
    description="A service key, one of WXAUTH_SERVICE_KEYS.",
)

KEY_FAILURES = "service-key-failures-ip"  # the scope of the per-address budget of wrong keys


def matching_key(presented: str, keys: Sequence[ServiceKey]) -> ServiceKey | None:
    """The key ``presented`` is, compared in time independent of where they differ (both
    sides hashed first; every key compared, so the time does not say which one matched)."""
    given = hashlib.sha256(presented.encode("utf-8")).digest()
    found: ServiceKey | None = None
    for key in keys:
        wanted = hashlib.sha256(key.key.get_secret_value().encode("utf-8")).digest()
        if hmac.compare_digest(given, wanted):
            found = key
    return found


async def service_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(service_bearer)],
) -> ServiceKey:
    """The caller's service key. A right key always passes; a missing or wrong one spends
    the address's budget (``WXAUTH_RATE_LIMIT_SERVICE_KEY_FAILURES_IP``), then 429."""
    state = api_state(request)
    if credentials is not None:
        found = matching_key(credentials.credentials, state.settings.service_key_grants())
        if found is not None:
            return found
    limit = state.settings.rate_limit_service_key_failures_ip
    address = state.client_ip(request) or "unknown"
    await state.limiter.check(KEY_FAILURES, address, limit)
    await state.limiter.failed(KEY_FAILURES, address, limit)
    raise InvalidToken("The service key is missing or not one of WXAUTH_SERVICE_KEYS.")


ServiceKeyDep = Annotated[ServiceKey, Depends(service_key)]


def require_scope(key: ServiceKey, scope: str, appid: str | None = None) -> None:
    if not key.allows(scope, appid):
        what = f"{scope} for {appid}" if appid else scope
        raise Forbidden(f"The service key {key.name!r} is not allowed {what}.")
