"""Opening the Open Platform's pushes: signature, freshness, appid and replays."""

from __future__ import annotations

import asyncio

import pytest

from wxauth.errors import (
    InvalidMessageSignature,
    MalformedMessage,
    MessageAppidMismatch,
    ReplayedMessage,
    StaleMessage,
)
from wxauth.wechat.component_crypto import MessageCrypto, to_xml
from wxauth.wechat.component_push import (
    AUTHORIZED,
    VERIFY_TICKET,
    MemoryReplayCache,
    PushVerifier,
    parse_event,
)

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TOKEN = "platformtoken"
COMPONENT = "wxcomponent0000001"
NOW = 1_700_000_000


def ticket_message(appid: str = COMPONENT, ticket: str = "ticket@@@abc") -> str:
    # As WeChat's docs show it decrypted.
    return (
        f"<xml><AppId>{appid}</AppId><CreateTime>{NOW}</CreateTime>"
        f"<InfoType>component_verify_ticket</InfoType>"
        f"<ComponentVerifyTicket>{ticket}</ComponentVerifyTicket></xml>"
    )


def sealed(
    message: str, *, timestamp: int = NOW, nonce: str = "1234", crypto: MessageCrypto | None = None
) -> tuple[str, dict[str, str]]:
    crypto = crypto or MessageCrypto(TOKEN, KEY, COMPONENT)
    body, msg_signature = crypto.seal(message, timestamp=str(timestamp), nonce=nonce)
    return body, {"msg_signature": msg_signature, "timestamp": str(timestamp), "nonce": nonce}


@pytest.fixture
def verifier() -> PushVerifier:
    return PushVerifier(MessageCrypto(TOKEN, KEY, COMPONENT), MemoryReplayCache())


async def test_opens_a_ticket_push(verifier: PushVerifier) -> None:
    body, query = sealed(ticket_message())
    event = await verifier.open(body, **query, now=NOW + 2)
    assert event.info_type == VERIFY_TICKET
    assert event.component_appid == COMPONENT and event.create_time == NOW
    assert event.verify_ticket == "ticket@@@abc"
    assert "ticket@@@abc" not in repr(event)


async def test_opens_bytes_and_an_authorized_push(verifier: PushVerifier) -> None:
    message = to_xml(
        {
            "AppId": COMPONENT,
            "CreateTime": NOW,
            "InfoType": AUTHORIZED,
            "AuthorizerAppid": "wxmerchant00000001",
            "AuthorizationCode": "queryauthcode@@@x",
            "AuthorizationCodeExpiredTime": NOW + 3600,
            "PreAuthCode": "preauthcode@@@y",
        }
    )
    body, query = sealed(message)
    event = await verifier.open(body.encode(), **query, now=NOW)
    assert event.info_type == AUTHORIZED
    assert event.authorizer_appid == "wxmerchant00000001"
    assert event.authorization_code == "queryauthcode@@@x"
    assert event.authorization_code_expires_at == NOW + 3600
    assert event.pre_auth_code == "preauthcode@@@y"
    assert event.verify_ticket is None


async def test_replay_is_refused_but_a_new_nonce_is_not(verifier: PushVerifier) -> None:
    body, query = sealed(ticket_message())
    await verifier.open(body, **query, now=NOW)
    with pytest.raises(ReplayedMessage):
        await verifier.open(body, **query, now=NOW + 1)
    body, query = sealed(ticket_message(), nonce="5678")
    await verifier.open(body, **query, now=NOW + 1)


async def test_refused_pushes_are_not_remembered(verifier: PushVerifier) -> None:
    body, query = sealed(ticket_message())
    with pytest.raises(InvalidMessageSignature):
        await verifier.open(body, **{**query, "msg_signature": "0" * 40}, now=NOW)
    await verifier.open(body, **query, now=NOW)  # the genuine one still goes through


@pytest.mark.parametrize("skew", [-301, 301, 86_400])
async def test_stale_timestamps_are_refused(verifier: PushVerifier, skew: int) -> None:
    body, query = sealed(ticket_message())
    with pytest.raises(StaleMessage):
        await verifier.open(body, **query, now=NOW + skew)


@pytest.mark.parametrize("skew", [-300, 0, 300])
async def test_timestamps_within_the_window_pass(verifier: PushVerifier, skew: int) -> None:
    body, query = sealed(ticket_message())
    await verifier.open(body, **query, now=NOW + skew)


async def test_window_is_a_setting() -> None:
    strict = PushVerifier(MessageCrypto(TOKEN, KEY, COMPONENT), MemoryReplayCache(), max_skew_s=5)
    body, query = sealed(ticket_message())
    with pytest.raises(StaleMessage):
        await strict.open(body, **query, now=NOW + 6)


async def test_timestamp_is_covered_by_the_signature(verifier: PushVerifier) -> None:
    body, query = sealed(ticket_message(), timestamp=NOW - 3600)
    with pytest.raises(InvalidMessageSignature):  # moving it forward breaks the signature
        await verifier.open(body, **{**query, "timestamp": str(NOW)}, now=NOW)


async def test_non_numeric_timestamp_is_malformed() -> None:
    crypto = MessageCrypto(TOKEN, KEY, COMPONENT)
    verifier = PushVerifier(crypto, MemoryReplayCache())
    body, msg_signature = crypto.seal(ticket_message(), timestamp="soon", nonce="1")
    with pytest.raises(MalformedMessage):
        await verifier.open(body, msg_signature=msg_signature, timestamp="soon", nonce="1", now=NOW)


async def test_push_for_another_platform_is_refused(verifier: PushVerifier) -> None:
    other = MessageCrypto(TOKEN, KEY, "wxotherplatform001")
    body, query = sealed(ticket_message("wxotherplatform001"), crypto=other)
    with pytest.raises(MessageAppidMismatch):  # the envelope's AppId already says so
        await verifier.open(body, **query, now=NOW)
    # Without the envelope's AppId, the appid inside the ciphertext still does.
    encrypt = other.encrypt(ticket_message("wxotherplatform001"))
    bare = to_xml({"Encrypt": encrypt})
    signed = other.signature(str(NOW), "1", encrypt)
    with pytest.raises(MessageAppidMismatch):
        await verifier.open(bare, msg_signature=signed, timestamp=str(NOW), nonce="1", now=NOW)


async def test_inner_appid_must_be_the_platform(verifier: PushVerifier) -> None:
    body, query = sealed(ticket_message(appid="wxsomeoneelse00001"))
    with pytest.raises(MessageAppidMismatch):
        await verifier.open(body, **query, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        "<xml><AppId>wxcomponent0000001</AppId></xml>",  # no Encrypt
        "<xml><Encrypt></Encrypt></xml>",
        "plain text",
        '<!DOCTYPE x [<!ENTITY e "e">]><xml><Encrypt>&e;</Encrypt></xml>',
    ],
)
async def test_malformed_bodies_are_refused(verifier: PushVerifier, body: str) -> None:
    with pytest.raises(MalformedMessage):
        await verifier.open(body, msg_signature="0" * 40, timestamp=str(NOW), nonce="1", now=NOW)


async def test_decrypted_message_without_info_type_is_malformed(verifier: PushVerifier) -> None:
    body, query = sealed(f"<xml><AppId>{COMPONENT}</AppId><CreateTime>1</CreateTime></xml>")
    with pytest.raises(MalformedMessage):
        await verifier.open(body, **query, now=NOW)


async def test_open_xml_gives_any_encrypted_message(verifier: PushVerifier) -> None:
    body, query = sealed("<xml><MsgType>text</MsgType></xml>")
    text = await verifier.open_xml(body, **query, now=NOW)
    assert text == "<xml><MsgType>text</MsgType></xml>"
    with pytest.raises(ReplayedMessage):
        await verifier.open_xml(body, **query, now=NOW)


def test_parse_event_strips_whitespace() -> None:
    event = parse_event(
        "<xml>\n<AppId><![CDATA[ wxc ]]></AppId>\n<CreateTime>7</CreateTime>\n"
        "<InfoType><![CDATA[unauthorized]]></InfoType>"
        "<AuthorizerAppid><![CDATA[wxm]]></AuthorizerAppid></xml>"
    )
    assert (event.component_appid, event.create_time, event.info_type) == ("wxc", 7, "unauthorized")
    assert event.authorizer_appid == "wxm" and event.authorization_code_expires_at is None


async def test_memory_cache_forgets_after_until() -> None:
    cache = MemoryReplayCache()
    assert await cache.first_seen("k", until=110, now=100)
    assert not await cache.first_seen("k", until=120, now=109)
    assert await cache.first_seen("k", until=130, now=110)  # expired at 110: a new sighting
    assert len(cache) == 1


async def test_memory_cache_is_bounded() -> None:
    cache = MemoryReplayCache(max_keys=3)
    for i in range(5):
        assert await cache.first_seen(f"k{i}", until=1000 + i, now=0)
    assert len(cache) == 3
    assert await cache.first_seen("k0", until=2000, now=0)  # the oldest went first
    assert not await cache.first_seen("k4", until=2000, now=0)


async def test_memory_cache_lets_one_of_two_racers_through() -> None:
    cache = MemoryReplayCache()
    answers = await asyncio.gather(*(cache.first_seen("k", until=10, now=0) for _ in range(10)))
    assert answers.count(True) == 1
