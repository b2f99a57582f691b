"""Short-lived signed access tokens (JWTs) for the app's other services and its gateway.

A valid session token is exchanged for a JWT signed with ES256 (``POST /v1/token``); anyone
holding the JWKS (``/.well-known/jwks.json``) can verify it offline. Its claims::

    iss  the issuer (WXAUTH_JWT_ISSUER, else WXAUTH_PUBLIC_URL, else the server's URL)
    sub  the user id                aud, azp  the appid the session belongs to
    sid  the session's public id    iat, exp, jti    unionid  when WeChat gave one

The revocation bound is the JWT's life (``WXAUTH_JWT_TTL``): a revoked session mints no
more, but a JWT already minted stays valid until ``exp``. Introspection is immediate.

Keys live in the store, the private half encrypted with the at-rest :class:`Keyring`. The
newest unretired key signs. :meth:`AccessJwts.rotate` adds a key and retires the others; a
retired key stays in the JWKS for the JWT life plus the key reload interval (a process may
go on signing with the old key until it next reads the keys), then it is deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wxauth.core.keyring import Keyring
from wxauth.core.models import SigningKey
from wxauth.core.ports import Clock, Store
from wxauth.core.sessions import Authenticated

ALGORITHM = "ES256"
KEY_RELOAD_S = 30.0  # how long a process keeps the keys it read before reading them again

Monotonic = Callable[[], float]


@dataclass(frozen=True, slots=True)
class MintedJwt:
    token: str = field(repr=False)
    expires_in: int
    claims: dict[str, Any]


def _b64(value: int) -> str:
    raw = value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The P-256 public key as a JWK, its ``kid`` the RFC 7638 thumbprint."""
    numbers = key.public_numbers()
    jwk = {"crv": "P-256", "kty": "EC", "x": _b64(numbers.x), "y": _b64(numbers.y)}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode("ascii")
    digest = hashlib.sha256(canonical).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def new_signing_key(keyring: Keyring, now: datetime) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    jwk = public_jwk(private.public_key())
    return SigningKey(
        kid=jwk["kid"],
        alg=ALGORITHM,
        private_key_enc=keyring.encrypt(pem),
        public_jwk=json.dumps(jwk, sort_keys=True),
        created_at=now,
    )


class AccessJwts:
    """Mints access JWTs for authenticated sessions, publishes the JWKS, rotates keys."""

    def __init__(
        self,
        *,
        store: Store,
        keyring: Keyring,
        ttl: int,
        clock: Clock,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self.ttl = ttl
        self.reload_s = min(KEY_RELOAD_S, float(ttl))
        self._clock = clock
        self._monotonic = monotonic
        self._keys: list[SigningKey] | None = None
        self._loaded_at = 0.0
        self._private: dict[str, ec.EllipticCurvePrivateKey] = {}

    def __repr__(self) -> str:
        return f"AccessJwts(ttl={self.ttl})"

    @property
    def retention(self) -> timedelta:
        """How long a retired key stays published: a token it signed may live this long."""
        return timedelta(seconds=self.ttl + self.reload_s)

    async def mint(self, auth: Authenticated, *, issuer: str) -> MintedJwt:
        """A JWT for the session of ``auth`` (checked by the caller), ending no later than
        the session itself."""
        key = await self._signing_key()
        now = self._clock()
        iat = int(now.timestamp())
        exp = min(iat + self.ttl, int(auth.session.expires_at.timestamp()))
        user = auth.user
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": user.id,
            "aud": auth.session.appid,
            "azp": auth.session.appid,
            "sid": auth.session.public_id,
            "iat": iat,
            "exp": exp,
            "jti": secrets.token_urlsafe(16),
        }
        if user.unionid:
            claims["unionid"] = user.unionid
        token = jwt.encode(claims, self._private_key(key), ALGORITHM, headers={"kid": key.kid})
        return MintedJwt(token=token, expires_in=exp - iat, claims=claims)

    async def jwks(self) -> dict[str, Any]:
        """The public keys a token minted now or still alive may be signed with."""
        now = self._clock()
        keys = await self._load()
        return {
            "keys": [
                json.loads(k.public_jwk)
                for k in keys
                if k.retired_at is None or now < k.retired_at + self.retention
            ]
        }

    async def rotate(self) -> SigningKey:
        """Start signing with a new key; the old ones stay published for :attr:`retention`,
        and keys retired longer ago than that are deleted."""
        now = self._clock()
        key = new_signing_key(self._keyring, now)
        await self._store.add_signing_key(key)
        await self._store.delete_signing_keys(now - self.retention)
        self._keys = None
        return key

    async def _signing_key(self) -> SigningKey:
        keys = await self._load()
        current = next((k for k in keys if k.retired_at is None), None)
        if current is None:  # the first token ever: make the first key
            current = await self.rotate()
        return current

    async def _load(self) -> list[SigningKey]:
        if self._keys is None or self._monotonic() - self._loaded_at >= self.reload_s:
            self._keys = await self._store.list_signing_keys()
            self._loaded_at = self._monotonic()
        return self._keys

    def _private_key(self, key: SigningKey) -> ec.EllipticCurvePrivateKey:
        private = self._private.get(key.kid)
        if private is None:
            pem = self._keyring.decrypt(key.private_key_enc).encode("ascii")
            loaded = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey)
            private = self._private[key.kid] = loaded
        return private
