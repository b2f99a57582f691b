"""Where webhooks may go: the URL rules, the addresses refused at send time (the resolved
ones, so DNS rebinding cannot get past), and the backoff between attempts."""

from __future__ import annotations

import pytest

from tests.webhooks.receiver import Receiver
from wxauth.core.webhook_urls import address_refusal, check_url
from wxauth.core.webhook_worker import RetryPolicy, SendResult, outcome
from wxauth.outbound import Resolver, WebhookSender

BODY = b'{"id":"evt_1"}'
HEADERS = {"webhook-id": "evt_1", "content-type": "application/json"}


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:169.254.169.254", "metadata"),  # IPv4 in IPv6 clothing
        ("0.0.0.0", "unicast"),  # noqa: S104 - refused, not bound
        ("::", "unicast"),
        ("224.0.0.1", "unicast"),
        ("240.0.0.1", "unicast"),
    ],
)
def test_never_allowed(address: str, why: str) -> None:
    for allow_private in (False, True):
        refusal = address_refusal(address, allow_private=allow_private)
        assert refusal is not None and why in refusal


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "fd12::1", "100.64.0.1"],
)
def test_private_and_loopback_only_when_allowed(address: str) -> None:
    refusal = address_refusal(address, allow_private=False)
    assert refusal is not None and "WXAUTH_WEBHOOK_ALLOW_PRIVATE=1" in refusal
    assert address_refusal(address, allow_private=True) is None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(address, allow_private=False) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "starts with https://"),
        ("file:///etc/passwd", "starts with https://"),
        ("hooks.example.com/x", "starts with https://"),
        ("https:///x", "names a host"),
        ("https://user:pw@hooks.example.com/x", "no user or password"),
        ("https://hooks.example.com/x#frag", "no #fragment"),
        ("https://hooks.example.com:99999/x", "not a URL"),
        ("https://hooks.example.com/a b", "printable"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://127.0.0.1:8080/hooks", "loopback"),
        ("https://10.0.0.5/hooks", "private"),
        ("https://example.com/" + "x" * 1100, "at most 1024"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_url(url, allow_private=False)


def test_good_urls_pass() -> None:
    assert check_url("https://hooks.example.com/wxauth?x=1", allow_private=False)
    assert check_url("http://127.0.0.1:8080/hooks", allow_private=True)


def resolving_to(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_a_loopback_receiver_is_refused_unless_allowed(receiver: Receiver) -> None:
    refused = await WebhookSender(timeout=5, allow_private=False).send(receiver.url, HEADERS, BODY)
    assert refused.status is None and "refused: 127.0.0.1" in (refused.error or "")
    assert receiver.received == []
    sender = WebhookSender(timeout=5, allow_private=True)
    assert (await sender.send(receiver.url, HEADERS, BODY)).status == 204
    await sender.aclose()
    assert len(receiver.received) == 1


async def test_the_resolved_address_is_checked_and_used(receiver: Receiver) -> None:
    """A name resolving to the metadata service is refused even with private addresses
    allowed; one resolving to a receiver is sent there, under its own name."""
    url = f"http://hooks.test:{receiver.port}/hooks"
    metadata = WebhookSender(
        timeout=5, allow_private=True, resolver=resolving_to("169.254.169.254")
    )
    result = await metadata.send(url, HEADERS, BODY)
    assert result.error == (
        "refused: hooks.test resolves to 169.254.169.254, a cloud metadata address"
    )
    # Rebinding: one answer public, one internal. Any refused address refuses the send.
    rebinding = WebhookSender(
        timeout=5, allow_private=False, resolver=resolving_to("93.184.216.34", "127.0.0.1")
    )
    assert "127.0.0.1" in ((await rebinding.send(url, HEADERS, BODY)).error or "")
    assert receiver.received == []
    pinned = WebhookSender(timeout=5, allow_private=True, resolver=resolving_to("127.0.0.1"))
    assert (await pinned.send(url, HEADERS, BODY)).status == 204
    await pinned.aclose()
    [got] = receiver.received
    assert got.headers["Host"] == f"hooks.test:{receiver.port}"
    assert got.body == BODY and got.headers["webhook-id"] == "evt_1"


async def test_a_name_that_does_not_resolve() -> None:
    async def fail(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    sender = WebhookSender(timeout=5, allow_private=True, resolver=fail)
    result = await sender.send("https://nowhere.test/x", HEADERS, BODY)
    assert result == SendResult(None, "cannot resolve nowhere.test")


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_s=10, max_s=300)
    assert [policy.delay(n, None, 0.0) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert [policy.delay(n, None, 0.999999) for n in (1, 2)] == pytest.approx([10, 20])
    assert policy.delay(9, None, 0.999999) == pytest.approx(300)
    assert policy.delay(1, 120, 0.0) == 120  # the receiver's Retry-After, when longer
    assert policy.delay(1, 10_000, 0.0) == 300  # ... within the cap


@pytest.mark.parametrize(
    ("status", "attempts", "verdict"),
    [
        (200, 1, "delivered"),
        (204, 12, "delivered"),
        (500, 1, "retry"),
        (503, 11, "retry"),
        (503, 12, "dead"),
        (None, 1, "retry"),
        (408, 1, "retry"),
        (425, 1, "retry"),
        (429, 1, "retry"),
        (400, 1, "dead"),
        (401, 1, "dead"),
        (410, 1, "dead"),
        (301, 1, "dead"),
    ],
)
def test_outcomes(status: int | None, attempts: int, verdict: str) -> None:
    assert outcome(SendResult(status), attempts, RetryPolicy(max_attempts=12)) == verdict
