"""Checking wxauth's webhooks in the receiving backend (Standard Webhooks signatures).

::

    from wxauth.integrations.webhooks import verify

    event = verify(secret, request.headers, request.body)   # raises InvalidWebhook
    if seen(event["id"]):      # at least once: the same event may come again
        return 200

``secret`` is the ``whsec_...`` value ``wxauth webhooks add`` printed; ``headers`` any
mapping of the request's headers (names in any case); ``body`` the raw bytes as received,
before any JSON parsing. Framework-free: it needs only the standard library.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from wxauth.core.webhook_signing import secret_key, signature
from wxauth.errors import InvalidWebhook

__all__ = ["InvalidWebhook", "verify"]

DEFAULT_TOLERANCE = 300  # seconds either way, as Standard Webhooks recommends


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise InvalidWebhook(f"The webhook has no {name} header.")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The event of a webhook whose signature verifies under ``secret`` and whose
    timestamp is within ``tolerance`` seconds of now; :class:`InvalidWebhook` otherwise
    (every signature compared in constant time)."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    message_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise InvalidWebhook("The webhook-timestamp header is not a number of seconds.")
    timestamp = int(stamp)
    if abs(now() - timestamp) > tolerance:
        raise InvalidWebhook("The webhook's timestamp is too far from now (replayed or late).")
    try:
        key = secret_key(secret)
    except ValueError as exc:
        raise InvalidWebhook(str(exc)) from None
    expected = signature(key, message_id, timestamp, raw).encode("ascii")
    found = False
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode("utf-8"), expected):
            found = True  # no early exit: the time taken says nothing of which matched
    if not found:
        raise InvalidWebhook()
    try:
        event: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise InvalidWebhook("The webhook's body is not JSON.") from None
    return event
