"""WeChat's message crypto for Open Platform pushes (the scheme of its WXBizMsgCrypt sample).

A third-party platform has a message ``Token`` and a 43-character ``EncodingAESKey``. WeChat
pushes ``<xml><AppId>…</AppId><Encrypt>…</Encrypt></xml>`` with ``timestamp``, ``nonce`` and
``msg_signature`` in the query string (WECHAT.md section 8):

- AES key = base64-decode(EncodingAESKey + "=") (32 bytes); AES-256-CBC; IV = the key's first
  16 bytes; PKCS#7 padding to a multiple of **32** bytes (not AES's 16).
- plaintext = 16 random bytes + the message's length (4 bytes, big-endian) + the message
  (UTF-8) + the appid it was encrypted for.
- msg_signature = hex(SHA-1(the sorted strings [Token, timestamp, nonce, Encrypt] joined)).

:class:`MessageCrypto` does the arithmetic both ways; freshness and replays are the business
of :mod:`wxauth.wechat.component_push`. Failures raise the
:class:`~wxauth.errors.ComponentMessageError` family.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from xml.etree.ElementTree import Element, ParseError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from wxauth.errors import (
    InvalidEncodingAESKey,
    InvalidMessageSignature,
    MalformedMessage,
    MessageAppidMismatch,
    MessageDecryptionFailed,
)

BLOCK = 32  # WeChat pads to 32-byte blocks
RANDOM_BYTES = 16
KEY_CHARS = 43


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key an EncodingAESKey stands for; :class:`InvalidEncodingAESKey` if none."""
    if len(encoding_aes_key) != KEY_CHARS or not encoding_aes_key.isascii():
        raise InvalidEncodingAESKey()
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEncodingAESKey() from None
    if len(key) != 32:
        raise InvalidEncodingAESKey()
    return key


def new_encoding_aes_key() -> str:
    """A fresh EncodingAESKey, as the Open Platform console generates one."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")[:KEY_CHARS]


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature: hex(SHA-1) of the four strings sorted and joined."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's scheme


def pad(data: bytes) -> bytes:
    """PKCS#7 to a multiple of 32 bytes: 1 to 32 bytes, each holding the count."""
    count = BLOCK - len(data) % BLOCK
    return data + bytes([count]) * count


def unpad(data: bytes) -> bytes:
    """Strict inverse of :func:`pad` (WeChat's sample tolerates bad pads; we do not)."""
    if not data or len(data) % BLOCK:
        raise MessageDecryptionFailed()
    count = data[-1]
    if not 1 <= count <= BLOCK or data[-count:] != bytes([count]) * count:
        raise MessageDecryptionFailed()
    return data[:-count]


def parse_xml(text: str | bytes) -> Element:
    """An XML document from WeChat, refusing DTDs (so no entities, external or expanding)."""
    try:
        return fromstring(text, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise MalformedMessage() from None


def field_text(root: Element, tag: str) -> str | None:
    """The text of ``root``'s child ``tag`` (CDATA or not), or None when absent."""
    child = root.find(tag)
    if child is None:
        return None
    return child.text or ""


def to_xml(fields: dict[str, str | int]) -> str:
    """``<xml>`` with one child per field: strings in CDATA, numbers bare (WeChat's style)."""
    parts = []
    for tag, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{tag}>{value}</{tag}>")
        else:  # "]]>" cannot sit inside CDATA: close and reopen around it
            text = value.replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{tag}><![CDATA[{text}]]></{tag}>")
    return "<xml>" + "".join(parts) + "</xml>"


class MessageCrypto:
    """One platform's Token, EncodingAESKey and appid; signs, encrypts and decrypts messages.

    >>> crypto = MessageCrypto("token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wxcomp")
    >>> crypto.decrypt(crypto.encrypt("<xml/>"))
    '<xml/>'
    """

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        self.appid = appid
        self._token = token
        self._key = aes_key(encoding_aes_key)

    def __repr__(self) -> str:
        return f"MessageCrypto(appid={self.appid!r})"

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return signature(self._token, timestamp, nonce, encrypt)

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """:class:`InvalidMessageSignature` unless ``msg_signature`` signs the message."""
        expected = self.signature(timestamp, nonce, encrypt).encode("ascii")
        if not hmac.compare_digest(expected, msg_signature.strip().lower().encode("utf-8")):
            raise InvalidMessageSignature()

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        """The base64 ``Encrypt`` for ``message`` (``random_prefix`` fixes the 16 random bytes,
        for known-answer tests)."""
        prefix = secrets.token_bytes(RANDOM_BYTES) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_BYTES:
            raise ValueError("random_prefix must be 16 bytes")
        body = message.encode("utf-8")
        plaintext = prefix + struct.pack(">I", len(body)) + body + self.appid.encode("utf-8")
        encryptor = self._cipher().encryptor()
        ciphertext = encryptor.update(pad(plaintext)) + encryptor.finalize()
        return base64.b64encode(ciphertext).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """The message inside ``encrypt``; it must have been encrypted for this appid."""
        try:
            ciphertext = base64.b64decode(encrypt.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MalformedMessage() from None
        if not ciphertext or len(ciphertext) % BLOCK:
            raise MessageDecryptionFailed()
        decryptor = self._cipher().decryptor()
        plaintext = unpad(decryptor.update(ciphertext) + decryptor.finalize())
        header = RANDOM_BYTES + 4
        if len(plaintext) < header:
            raise MessageDecryptionFailed()
        (length,) = struct.unpack(">I", plaintext[RANDOM_BYTES:header])
        if length > len(plaintext) - header:
            raise MessageDecryptionFailed()
        body, appid = plaintext[header : header + length], plaintext[header + length :]
        if appid != self.appid.encode("utf-8"):
            raise MessageAppidMismatch()
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise MessageDecryptionFailed() from None

    def seal(self, message: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """What WeChat POSTs to the platform's event URL for ``message``: the XML body
        (``AppId`` and ``Encrypt``) and the msg_signature for the query string."""
        encrypt = self.encrypt(message)
        body = to_xml({"AppId": self.appid, "Encrypt": encrypt})
        return body, self.signature(timestamp, nonce, encrypt)

    def reply(self, message: str, timestamp: str, nonce: str) -> str:
        """An encrypted, signed reply (``Encrypt``, ``MsgSignature``, ``TimeStamp``, ``Nonce``)."""
        encrypt = self.encrypt(message)
        return to_xml(
            {
                "Encrypt": encrypt,
                "MsgSignature": self.signature(timestamp, nonce, encrypt),
                "TimeStamp": int(timestamp) if timestamp.isdigit() else timestamp,
                "Nonce": nonce,
            }
        )
