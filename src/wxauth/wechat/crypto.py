"""WeChat's user-data crypto: decrypting ``encryptedData`` and checking signatures.

``decrypt`` opens what ``wx.getUserInfo`` / the phone button hand the mini program
(AES-128-CBC under the user's session_key, PKCS#7 with 16-byte blocks, a ``watermark``
naming the appid). Each way it can fail has its own error (defined in :mod:`wxauth.errors`)::

    CryptoError                  400 invalid_request
    ├── InvalidSessionKey            the session_key is not 16 bytes in base64 (demo -41001)
    ├── InvalidIV                    the iv is not 16 bytes in base64 (demo -41002)
    ├── InvalidBase64                encryptedData is not base64 (demo -41004)
    ├── WatermarkMismatch            the data was issued for another appid (demo -41003)
    └── DecryptionFailed         400 session_key_stale: padding or JSON broken (demo -41003)

``DecryptionFailed`` is also a :class:`~wxauth.errors.SessionKeyStale`: its usual real cause
is that the phone called ``wx.login`` after it got the data, which rotated the session_key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxauth.errors import (
    CryptoError,
    DecryptionFailed,
    InvalidBase64,
    InvalidIV,
    InvalidSessionKey,
    WatermarkMismatch,
)

__all__ = [
    "CryptoError",
    "DecryptionFailed",
    "InvalidBase64",
    "InvalidIV",
    "InvalidSessionKey",
    "WatermarkMismatch",
    "decrypt",
    "encrypt",
    "raw_data_signature",
    "session_signature",
    "verify_raw_data",
]

BLOCK = 16


def _b64(value: str, error: type[CryptoError]) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error() from None


def _key16(value: str, error: type[CryptoError]) -> bytes:
    # A 16-byte value is exactly 24 base64 characters; anything else is refused up front.
    if len(value) != 24:
        raise error()
    raw = _b64(value, error)
    if len(raw) != BLOCK:
        raise error()
    return raw


def _unpad(data: bytes) -> bytes:
    """Strict PKCS#7 with 16-byte blocks: a pad of 1..16 bytes, all equal."""
    if not data or len(data) % BLOCK:
        raise DecryptionFailed()
    pad = data[-1]
    if not 1 <= pad <= BLOCK or data[-pad:] != bytes([pad]) * pad:
        raise DecryptionFailed()
    return data[:-pad]


def decrypt(session_key: str, encrypted_data: str, iv: str, *, appid: str) -> dict[str, Any]:
    """Decrypt ``encrypted_data`` and return its JSON object.

    Raises a :class:`CryptoError` subclass (see the module docstring); the watermark's appid
    must equal ``appid``.
    """
    key = _key16(session_key, InvalidSessionKey)
    iv_bytes = _key16(iv, InvalidIV)
    ciphertext = _b64(encrypted_data, InvalidBase64)
    if not ciphertext or len(ciphertext) % BLOCK:
        raise DecryptionFailed()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv_bytes)).decryptor()
    plaintext = _unpad(decryptor.update(ciphertext) + decryptor.finalize())
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DecryptionFailed() from None
    if not isinstance(data, dict):
        raise DecryptionFailed()
    watermark = data.get("watermark")
    if not isinstance(watermark, dict) or watermark.get("appid") != appid:
        raise WatermarkMismatch()
    return data


def encrypt(session_key: str, payload: dict[str, Any], iv: str) -> str:
    """The inverse of :func:`decrypt` (what WeChat does; used by the simulator)."""
    key = _key16(session_key, InvalidSessionKey)
    iv_bytes = _key16(iv, InvalidIV)
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    pad = BLOCK - len(plaintext) % BLOCK
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv_bytes)).encryptor()
    ciphertext = encryptor.update(plaintext + bytes([pad]) * pad) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def raw_data_signature(raw_data: str, session_key: str) -> str:
    """hex(SHA-1(rawData + session_key)), as WeChat signs ``rawData``."""
    return hashlib.sha1((raw_data + session_key).encode("utf-8")).hexdigest()  # noqa: S324


def verify_raw_data(raw_data: str, signature: str, session_key: str) -> bool:
    """Whether ``signature`` signs ``raw_data`` under ``session_key`` (constant-time compare)."""
    expected = raw_data_signature(raw_data, session_key).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8"))


def session_signature(session_key: str, message: str = "") -> str:
    """The signature of /wxa/checksession and /wxa/resetusersessionkey.

    hex(HMAC-SHA256(key = the session_key string's UTF-8 bytes, message)); the GETs sign "".
    """
    return hmac.new(session_key.encode("utf-8"), message.encode("utf-8"), "sha256").hexdigest()
