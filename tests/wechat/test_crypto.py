"""WeChat's user-data crypto, against the known answers WeChat publishes."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxauth.errors import SessionKeyStale
from wxauth.wechat.crypto import (
    CryptoError,
    DecryptionFailed,
    InvalidBase64,
    InvalidIV,
    InvalidSessionKey,
    WatermarkMismatch,
    decrypt,
    encrypt,
    raw_data_signature,
    session_signature,
    verify_raw_data,
)

APPID = "wx4f4bc4dec97d474b"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
IV = "r7BXXKkLb8qrSNn05n0qiA=="
ENCRYPTED = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC"
    "+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poO"
    "FtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8"
    "xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB"
    "6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJd"
    "NiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOy"
    "uxINew=="
)
RAW_DATA = (
    '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong",'
    '"country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w'
    '7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}'
)
RAW_KEY = "HyVFkGl5F5OQWJZZaNzBBg=="
RAW_SIGNATURE = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"


def test_known_answer_decrypts() -> None:
    data = decrypt(SESSION_KEY, ENCRYPTED, IV, appid=APPID)
    assert data["openId"] == "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
    assert data["nickName"] == "Band"
    assert data["gender"] == 1
    assert (data["language"], data["city"], data["province"], data["country"]) == (
        "zh_CN",
        "Guangzhou",
        "Guangdong",
        "CN",
    )
    assert data["unionId"] == "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
    assert data["watermark"] == {"timestamp": 1477314187, "appid": APPID}


def test_known_answer_raw_data_signature() -> None:
    assert raw_data_signature(RAW_DATA, RAW_KEY) == RAW_SIGNATURE
    assert verify_raw_data(RAW_DATA, RAW_SIGNATURE, RAW_KEY)
    assert verify_raw_data(RAW_DATA, RAW_SIGNATURE.upper(), RAW_KEY)


@pytest.mark.parametrize(
    ("raw", "signature", "key"),
    [
        (RAW_DATA.replace("Band", "Bend"), RAW_SIGNATURE, RAW_KEY),
        (RAW_DATA, RAW_SIGNATURE[:-1] + "d", RAW_KEY),
        (RAW_DATA, RAW_SIGNATURE, SESSION_KEY),
        (RAW_DATA, "", RAW_KEY),
        (RAW_DATA, "签名", RAW_KEY),
    ],
)
def test_raw_data_signature_rejects_changes(raw: str, signature: str, key: str) -> None:
    assert not verify_raw_data(raw, signature, key)


def test_known_answer_hmac_sha256_signature() -> None:
    # The key is the session_key string's bytes, not its base64 decoding.
    assert (
        session_signature("o0q0otL8aEzpcZL/FT9WsQ==", '{"foo":"bar"}')
        == "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
    )


def test_tampered_ciphertext_is_stale_key() -> None:
    raw = bytearray(base64.b64decode(ENCRYPTED))
    raw[-1] ^= 0x01  # breaks the padding of the last block
    with pytest.raises(DecryptionFailed) as info:
        decrypt(SESSION_KEY, base64.b64encode(bytes(raw)).decode(), IV, appid=APPID)
    assert isinstance(info.value, SessionKeyStale)
    assert info.value.code == "session_key_stale" and info.value.status == 400
    assert "wx.login" in info.value.message


def test_other_session_key_is_stale_key() -> None:
    with pytest.raises(DecryptionFailed):
        decrypt(RAW_KEY, ENCRYPTED, IV, appid=APPID)


def test_wrong_appid_in_watermark() -> None:
    with pytest.raises(WatermarkMismatch) as info:
        decrypt(SESSION_KEY, ENCRYPTED, IV, appid="wx0000000000000000")
    assert info.value.code == "invalid_request"
    assert not isinstance(info.value, SessionKeyStale)


@pytest.mark.parametrize(
    "key",
    [
        "tiihtNczf5v6AKRyjwEUhQ",  # 22 characters
        base64.b64encode(b"x" * 24).decode(),  # 24 bytes: AES-192, not WeChat's
        base64.b64encode(b"x" * 15).decode() + "==",
        "!!!!!!!!!!!!!!!!!!!!!!==",
    ],
)
def test_wrong_key_length(key: str) -> None:
    with pytest.raises(InvalidSessionKey):
        decrypt(key, ENCRYPTED, IV, appid=APPID)


@pytest.mark.parametrize("iv", ["", "r7BXXKkLb8qrSNn05n0q", base64.b64encode(b"i" * 32).decode()])
def test_wrong_iv_length(iv: str) -> None:
    with pytest.raises(InvalidIV):
        decrypt(SESSION_KEY, ENCRYPTED, iv, appid=APPID)


@pytest.mark.parametrize("data", ["not base64 at all!", "CiyLU1Aw2Kj", "密文"])
def test_bad_base64(data: str) -> None:
    with pytest.raises(InvalidBase64):
        decrypt(SESSION_KEY, data, IV, appid=APPID)


def test_pad_over_sixteen_is_refused() -> None:
    # A last block of sixteen 0x20 bytes after another one would pass a 32-byte-pad check.
    body = b'{"watermark":{"appid":"wx4f4bc4dec97d474b"}}'
    body += b" " * (-len(body) % 16)
    assert decrypt(SESSION_KEY, _encrypt_raw(body + bytes([16]) * 16), IV, appid=APPID)
    with pytest.raises(DecryptionFailed):
        decrypt(SESSION_KEY, _encrypt_raw(body + b"\x20" * 32), IV, appid=APPID)


def test_encrypt_round_trips_and_errors_share_a_base() -> None:
    payload = {"nickName": "小明 🐼", "watermark": {"appid": APPID, "timestamp": 1}}
    assert decrypt(SESSION_KEY, encrypt(SESSION_KEY, payload, IV), IV, appid=APPID) == payload
    for error in (InvalidSessionKey, InvalidIV, InvalidBase64, WatermarkMismatch, DecryptionFailed):
        assert issubclass(error, CryptoError)
        assert SESSION_KEY not in error().message


def test_non_object_json_is_stale_key() -> None:
    with pytest.raises(DecryptionFailed):
        decrypt(SESSION_KEY, _encrypt_raw(b"[1, 2, 3]" + bytes([7]) * 7), IV, appid=APPID)


def _encrypt_raw(padded: bytes) -> str:
    key, iv = base64.b64decode(SESSION_KEY), base64.b64decode(IV)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()
