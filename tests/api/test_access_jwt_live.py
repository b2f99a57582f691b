"""A real server: PyJWT's JWKS client, given only the JWKS URL, verifies its access JWTs, and
`wxauth keys rotate-signing` leaves old tokens verifiable until their key leaves the JWKS."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import APPID, SECRET
from tests.processes import WXAUTH, free_port, running

TTL = 2  # seconds: the key reload interval is min(30, TTL), so a retired key goes in 4 s


def session_token(base: str) -> str:
    code = httpx.post(f"{base}/sim/login", json={"appid": APPID, "user": "alice"}).json()["code"]
    response = httpx.post(f"{base}/v1/login", json={"code": code})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def access_jwt(base: str, token: str) -> str:
    response = httpx.post(f"{base}/v1/token", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    minted: str = response.json()["access_token"]
    return minted


def verified(
    token: str, jwks_url: str, issuer: str, *, check_exp: bool = True
) -> dict[str, object]:
    """A fresh PyJWKClient each time (no cache carried over): the JWKS URL is all it knows."""
    key = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=False)
    claims: dict[str, object] = jwt.decode(
        token,
        key.get_signing_key_from_jwt(token),
        algorithms=["ES256"],
        audience=APPID,
        issuer=issuer,
        options={"verify_exp": check_exp},
    )
    return claims


def test_pyjwt_verifies_from_the_jwks_url_and_rotation_keeps_old_tokens_for_their_life(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"WXAUTH_JWT_TTL": str(TTL)}
    args = ["dev", "--port", str(port), "--db", "wxauth-dev.db", "--app", f"{APPID}:{SECRET}"]
    with running(args, port=port, env=env, cwd=tmp_path, log=tmp_path / "dev.log"):
        discovery = httpx.get(f"{base}/.well-known/openid-configuration").json()
        assert discovery["issuer"] == base
        jwks_url = discovery["jwks_uri"]
        token = session_token(base)
        old = access_jwt(base, token)
        claims = verified(old, jwks_url, base)
        assert claims["aud"] == APPID

        rotated = subprocess.run(
            [WXAUTH, "keys", "rotate-signing"],
            cwd=tmp_path,
            env={**_environ(), "WXAUTH_JWT_TTL": str(TTL)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert rotated.returncode == 0, rotated.stderr
        assert "published for 4 s" in rotated.stdout
        time.sleep(TTL + 0.2)  # the server reads the keys again
        new = access_jwt(base, token)
        assert jwt.get_unverified_header(new)["kid"] != jwt.get_unverified_header(old)["kid"]
        verified(new, jwks_url, base)
        verified(old, jwks_url, base, check_exp=False)  # its key is still published

        time.sleep(2 * TTL)  # past the old key's retention
        with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
            verified(old, jwks_url, base, check_exp=False)
        verified(access_jwt(base, token), jwks_url, base)


def _environ() -> dict[str, str]:
    """This environment without WXAUTH_*: the command finds the dev database in its folder."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WXAUTH_")}
