"""Open Platform message crypto: WeChat's published known answers, and every refusal."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxauth.errors import (
    ComponentMessageError,
    InvalidEncodingAESKey,
    InvalidMessageSignature,
    InvalidRequest,
    MalformedMessage,
    MessageAppidMismatch,
    MessageDecryptionFailed,
    ServerMisconfigured,
)
from wxauth.wechat.component_crypto import (
    MessageCrypto,
    aes_key,
    new_encoding_aes_key,
    pad,
    parse_xml,
    signature,
    to_xml,
    unpad,
)

# WeChat's message-crypto sample (its Python/Node sample decrypts this push).
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_TOKEN = "spamtest"
SAMPLE_APPID = "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv"
    "Ql+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
SAMPLE_MESSAGE = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    "<CreateTime>1409735668</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[abcdteT]]></Content>\n"
    "<MsgId>6054768590064713728</MsgId>\n"
    "</xml>"
)

# The Java sample's test: a fixed 16-byte prefix makes encryption deterministic.
JAVA_APPID = "wxb11529c136998cb6"
JAVA_PREFIX = b"aaaabbbbccccdddd"
JAVA_REPLY = "我是中文abcd123"
JAVA_ENCRYPTED = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)
JAVA_REPLY2 = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName>"
    "<FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime>"
    "<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-"
    "HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]>"
    "</Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
)
JAVA_ENCRYPTED2 = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupq"
    "cEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3"
    "tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7K"
    "ZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVIN"
    "GC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAj"
    "Lt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX"
    "8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
)


@pytest.fixture
def sample() -> MessageCrypto:
    return MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID)


def raw_encrypt(key: str, plaintext: bytes) -> str:
    """AES-256-CBC with the EncodingAESKey's IV, no padding added: for hand-made buffers."""
    raw = aes_key(key)
    encryptor = Cipher(algorithms.AES(raw), modes.CBC(raw[:16])).encryptor()
    return base64.b64encode(encryptor.update(plaintext) + encryptor.finalize()).decode()


def test_sample_signature_and_decryption(sample: MessageCrypto) -> None:
    assert signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT) == (
        SAMPLE_SIGNATURE
    )
    sample.verify(SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)
    sample.verify(SAMPLE_SIGNATURE.upper(), SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)
    assert sample.decrypt(SAMPLE_ENCRYPT) == SAMPLE_MESSAGE


@pytest.mark.parametrize(
    ("message", "expected"), [(JAVA_REPLY, JAVA_ENCRYPTED), (JAVA_REPLY2, JAVA_ENCRYPTED2)]
)
def test_java_sample_encryption(message: str, expected: str) -> None:
    crypto = MessageCrypto("pamtest", SAMPLE_KEY, JAVA_APPID)
    assert crypto.encrypt(message, random_prefix=JAVA_PREFIX) == expected
    assert crypto.decrypt(expected) == message


def test_round_trip_with_random_prefix() -> None:
    crypto = MessageCrypto("token", new_encoding_aes_key(), "wxcomponent0000001")
    first, second = crypto.encrypt("<xml>同じ</xml>"), crypto.encrypt("<xml>同じ</xml>")
    assert first != second  # 16 fresh random bytes each time
    assert crypto.decrypt(first) == crypto.decrypt(second) == "<xml>同じ</xml>"


@pytest.mark.parametrize("size", [0, 1, 11, 12, 31, 32, 33, 1000])
def test_padding_is_to_32_byte_blocks(size: int) -> None:
    data = b"x" * size
    padded = pad(data)
    assert len(padded) % 32 == 0 and 1 <= len(padded) - size <= 32
    assert unpad(padded) == data


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00",  # a pad of zero
        bytes([33]) * 33,  # longer than a block
        b"\x05\x05\x05\x04\x05",  # unequal pad bytes
    ],
)
def test_bad_padding_is_refused(tail: bytes) -> None:
    with pytest.raises(MessageDecryptionFailed):
        unpad(b"y" * (64 - len(tail)) + tail)


def test_bad_padding_inside_a_message() -> None:
    crypto = MessageCrypto("t", SAMPLE_KEY, "wxapp")
    broken = raw_encrypt(SAMPLE_KEY, b"z" * 63 + b"\x00")
    with pytest.raises(MessageDecryptionFailed):
        crypto.decrypt(broken)
    # A 16-byte-aligned buffer is not WeChat's: it pads to 32.
    with pytest.raises(MessageDecryptionFailed):
        crypto.decrypt(raw_encrypt(SAMPLE_KEY, b"z" * 47 + b"\x01"))


def test_length_field_past_the_end_is_refused() -> None:
    plaintext = b"r" * 16 + (10_000).to_bytes(4, "big") + b"<xml/>wxapp"
    with pytest.raises(MessageDecryptionFailed):
        MessageCrypto("t", SAMPLE_KEY, "wxapp").decrypt(raw_encrypt(SAMPLE_KEY, pad(plaintext)))


def flipped(encrypt: str, index: int) -> str:
    raw = bytearray(base64.b64decode(encrypt))
    raw[index] ^= 0x01  # in CBC, flips the same byte of the next block's plaintext
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_ciphertext_is_refused(sample: MessageCrypto) -> None:
    # The signature is what catches tampering...
    with pytest.raises(InvalidMessageSignature):
        sample.verify(SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, flipped(SAMPLE_ENCRYPT, 5))
    # ...and decryption still refuses what it can see: a changed pad byte, a changed appid.
    with pytest.raises(MessageDecryptionFailed):
        sample.decrypt(flipped(SAMPLE_ENCRYPT, -17))
    appid_starts = len(base64.b64decode(SAMPLE_ENCRYPT)) - 2 - len(SAMPLE_APPID)  # pad is 2
    with pytest.raises(MessageAppidMismatch):
        sample.decrypt(flipped(SAMPLE_ENCRYPT, appid_starts - 16))


@pytest.mark.parametrize(
    ("msg_signature", "timestamp", "nonce"),
    [
        ("0" * 40, SAMPLE_TIMESTAMP, SAMPLE_NONCE),
        (SAMPLE_SIGNATURE, "1409735670", SAMPLE_NONCE),
        (SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, "1320562133"),
        ("", SAMPLE_TIMESTAMP, SAMPLE_NONCE),
        ("签名", SAMPLE_TIMESTAMP, SAMPLE_NONCE),
    ],
)
def test_wrong_signature_is_refused(
    sample: MessageCrypto, msg_signature: str, timestamp: str, nonce: str
) -> None:
    with pytest.raises(InvalidMessageSignature):
        sample.verify(msg_signature, timestamp, nonce, SAMPLE_ENCRYPT)


def test_wrong_token_is_refused() -> None:
    crypto = MessageCrypto("not-spamtest", SAMPLE_KEY, SAMPLE_APPID)
    with pytest.raises(InvalidMessageSignature):
        crypto.verify(SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)


def test_wrong_key_is_refused() -> None:
    other = MessageCrypto(SAMPLE_TOKEN, "A" * 42 + "E", SAMPLE_APPID)
    with pytest.raises(MessageDecryptionFailed):
        other.decrypt(SAMPLE_ENCRYPT)


def test_wrong_appid_is_refused() -> None:
    other = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, "wx0000000000000000")
    with pytest.raises(MessageAppidMismatch):
        other.decrypt(SAMPLE_ENCRYPT)
    # A prefix of the right appid is no match either.
    with pytest.raises(MessageAppidMismatch):
        MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID[:-1]).decrypt(SAMPLE_ENCRYPT)


@pytest.mark.parametrize("encrypt", ["not base64!", "aGVsbG8", "é"])
def test_bad_base64_is_malformed(sample: MessageCrypto, encrypt: str) -> None:
    with pytest.raises(MalformedMessage):
        sample.decrypt(encrypt)


@pytest.mark.parametrize(
    "key",
    [
        SAMPLE_KEY[:-1],  # 42 characters
        SAMPLE_KEY + "H",  # 44
        SAMPLE_KEY[:-1] + "!",  # not base64
        SAMPLE_KEY[:-1] + "é",  # not ASCII
        "",
    ],
)
def test_bad_encoding_aes_key_is_misconfiguration(key: str) -> None:
    with pytest.raises(InvalidEncodingAESKey) as caught:
        MessageCrypto("t", key, "wxapp")
    assert isinstance(caught.value, ServerMisconfigured)


def test_new_keys_are_43_characters_and_usable() -> None:
    key = new_encoding_aes_key()
    assert len(key) == 43 and len(aes_key(key)) == 32


def test_secrets_stay_out_of_the_repr(sample: MessageCrypto) -> None:
    assert repr(sample) == f"MessageCrypto(appid={SAMPLE_APPID!r})"
    assert SAMPLE_TOKEN not in repr(sample) and SAMPLE_KEY not in repr(sample)


def test_errors_are_400_invalid_request() -> None:
    for error in (MalformedMessage, InvalidMessageSignature, MessageDecryptionFailed):
        assert issubclass(error, ComponentMessageError) and issubclass(error, InvalidRequest)
        assert error().status == 400 and error().code == "invalid_request"


def test_seal_builds_what_wechat_pushes() -> None:
    crypto = MessageCrypto("tok", SAMPLE_KEY, "wxcomp")
    body, msg_signature = crypto.seal("<xml><A>1</A></xml>", timestamp="1700000000", nonce="42")
    root = parse_xml(body)
    encrypt = root.findtext("Encrypt") or ""
    assert root.findtext("AppId") == "wxcomp"
    assert msg_signature == signature("tok", "1700000000", "42", encrypt)
    assert crypto.decrypt(encrypt) == "<xml><A>1</A></xml>"


def test_reply_is_signed_and_encrypted() -> None:
    crypto = MessageCrypto("tok", SAMPLE_KEY, "wxcomp")
    root = parse_xml(crypto.reply("<xml><Content>hi</Content></xml>", "1700000000", "n0"))
    encrypt = root.findtext("Encrypt") or ""
    crypto.verify(root.findtext("MsgSignature") or "", "1700000000", "n0", encrypt)
    assert root.findtext("TimeStamp") == "1700000000" and root.findtext("Nonce") == "n0"
    assert crypto.decrypt(encrypt) == "<xml><Content>hi</Content></xml>"


@pytest.mark.parametrize(
    "document",
    [
        '<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>',
        '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><E>&x;</E></xml>',
        "<xml><Encrypt>unclosed</xml>",
        "not xml at all",
        "",
    ],
)
def test_xml_with_a_dtd_or_broken_is_refused(document: str) -> None:
    with pytest.raises(MalformedMessage):
        parse_xml(document)


def test_to_xml_quotes_like_wechat() -> None:
    text = to_xml({"AppId": "wx]]>1", "CreateTime": 1413192605})
    assert text.endswith("<CreateTime>1413192605</CreateTime></xml>")
    root = parse_xml(text)
    assert root.findtext("AppId") == "wx]]>1" and root.findtext("CreateTime") == "1413192605"
