"""Webhook signatures: Standard Webhooks' own example, an independent implementation (the
``standardwebhooks`` package) both ways, and every way verify() refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from wxauth.core.webhook_signing import new_secret, secret_key, signed_headers
from wxauth.integrations.webhooks import InvalidWebhook, verify

# The example of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
BODY = '{"id":"evt_1","type":"user.updated","data":{"nickname":"小明 🐼"}}'.encode()


def at(timestamp: int) -> float:
    return float(timestamp)


def skewed(seconds: int) -> Callable[[], float]:
    return lambda: at(SPEC_TIMESTAMP + seconds)


def test_the_specifications_example() -> None:
    headers = signed_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }
    event = verify(SPEC_SECRET, headers, SPEC_BODY, now=lambda: at(SPEC_TIMESTAMP))
    assert event == {"test": 2432232314}


def test_a_known_answer_computed_from_the_spec() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret_key(secret)) == 32
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, b"evt_1.1700000000." + BODY, hashlib.sha256).digest()
    headers = signed_headers(secret, "evt_1", 1700000000, BODY)
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()


def test_the_standardwebhooks_package_accepts_ours() -> None:
    secret = new_secret()
    timestamp = int(datetime.now(UTC).timestamp())
    headers = signed_headers(secret, "evt_2", timestamp, BODY)
    assert Webhook(secret).verify(BODY, headers)["type"] == "user.updated"


def test_ours_accepts_the_standardwebhooks_packages() -> None:
    secret = new_secret()
    when = datetime.now(UTC).replace(microsecond=0)
    signature = Webhook(secret).sign("evt_3", when, BODY.decode())
    headers = {
        "Webhook-Id": "evt_3",  # any case
        "Webhook-Timestamp": str(int(when.timestamp())),
        "Webhook-Signature": f"v1,bm90IHRoaXMgb25l {signature}",  # one of several
    }
    assert verify(secret, headers, BODY)["data"] == {"nickname": "小明 🐼"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-signature": "v1,AAAA"}, "does not verify"),
        ({"webhook-signature": SPEC_SIGNATURE.replace("v1,", "v2,")}, "does not verify"),
        ({"webhook-id": "msg_other"}, "does not verify"),
        ({"webhook-timestamp": str(SPEC_TIMESTAMP + 1)}, "does not verify"),
        ({"webhook-timestamp": "1614265330.5"}, "not a number"),
        ({"webhook-timestamp": "١٦١٤٢٦٥٣٣٠"}, "not a number"),  # Arabic-Indic digits
    ],
)
def test_tampered_headers_are_refused(change: dict[str, str], message: str) -> None:
    headers = {**signed_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), **change}
    with pytest.raises(InvalidWebhook, match=message) as caught:
        verify(SPEC_SECRET, headers, SPEC_BODY, now=lambda: at(SPEC_TIMESTAMP))
    assert caught.value.code == "invalid_webhook" and caught.value.status == 400


def test_a_changed_body_another_secret_or_a_missing_header_are_refused() -> None:
    headers = signed_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    now = lambda: at(SPEC_TIMESTAMP)  # noqa: E731
    with pytest.raises(InvalidWebhook):
        verify(SPEC_SECRET, headers, SPEC_BODY + b" ", now=now)
    with pytest.raises(InvalidWebhook):
        verify(new_secret(), headers, SPEC_BODY, now=now)
    with pytest.raises(InvalidWebhook, match="not whsec_"):
        verify("whsec_not base64!", headers, SPEC_BODY, now=now)
    for name in headers:
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(InvalidWebhook, match=f"no {name} header"):
            verify(SPEC_SECRET, partial, SPEC_BODY, now=now)


def test_the_timestamp_tolerance() -> None:
    headers = signed_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    for skew in (-300, 300):
        verify(SPEC_SECRET, headers, SPEC_BODY, now=skewed(skew))
    for skew in (-301, 301):
        with pytest.raises(InvalidWebhook, match="too far from now"):
            verify(SPEC_SECRET, headers, SPEC_BODY, now=skewed(skew))
    late = lambda: at(SPEC_TIMESTAMP + 3000)  # noqa: E731
    assert verify(SPEC_SECRET, headers, SPEC_BODY, tolerance=3600, now=late)


def test_the_secret_never_shows_in_an_error() -> None:
    secret = new_secret()
    headers = signed_headers(new_secret(), "evt_4", SPEC_TIMESTAMP, BODY)
    with pytest.raises(InvalidWebhook) as caught:
        verify(secret, headers, BODY, now=lambda: at(SPEC_TIMESTAMP))
    assert secret.removeprefix("whsec_") not in str(caught.value)
