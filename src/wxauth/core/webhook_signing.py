"""Webhook signatures as Standard Webhooks (https://www.standardwebhooks.com/) defines them.

The secret is ``whsec_`` and the base64 of 32 random bytes; a message is signed with
HMAC-SHA256 under those bytes over ``"{webhook-id}.{webhook-timestamp}.{body}"``, and the
``webhook-signature`` header carries ``v1,`` and the base64 of the digest (several
space-separated while a secret is being rotated). Receivers check it with
:func:`wxauth.integrations.webhooks.verify`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the form's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    """A new signing secret, in the ``whsec_...`` form receivers are given."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret (the prefix is optional); ValueError for
    anything that is not base64."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret is not whsec_ followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` (without the ``v1,``)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one delivery attempt."""
    sig = signature(secret_key(secret), message_id, timestamp, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{sig}",
    }
