"""Access JWTs for the app's other services: ``POST /v1/token``, the JWKS and the discovery
document (see :mod:`wxauth.core.access_jwt` for the claims and the revocation bound)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from wxauth.api.deps import AuthDep, StateDep
from wxauth.api.schemas import ErrorBody
from wxauth.api.state import ApiState
from wxauth.core.access_jwt import ALGORITHM

router = APIRouter(tags=["integrations"])


class AccessTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int


def issuer(state: ApiState, request: Request) -> str:
    """The ``iss`` of every JWT: the setting, else the public URL, else this server's URL."""
    settings = state.settings
    base = settings.jwt_issuer or settings.public_url or str(request.base_url)
    return base.rstrip("/")


@router.post(
    "/v1/token",
    responses={
        401: {"model": ErrorBody, "description": "the session token is not valid"},
        403: {"model": ErrorBody, "description": "account_disabled"},
        429: {"model": ErrorBody, "description": "the token's request budget is spent"},
    },
)
async def token(
    request: Request, response: Response, auth: AuthDep, state: StateDep
) -> AccessTokenResponse:
    """Exchange the session token (Bearer) for a short-lived signed access JWT."""
    response.headers["Cache-Control"] = "no-store"
    minted = await state.wiring.access_jwts.mint(auth, issuer=issuer(state, request))
    return AccessTokenResponse(access_token=minted.token, expires_in=minted.expires_in)


@router.get("/.well-known/jwks.json")
async def jwks(response: Response, state: StateDep) -> dict[str, Any]:
    """The public keys that verify access JWTs (RFC 7517)."""
    jwts = state.wiring.access_jwts
    response.headers["Cache-Control"] = f"public, max-age={int(jwts.reload_s)}"
    return await jwts.jwks()


@router.get("/.well-known/openid-configuration")
async def openid_configuration(request: Request, state: StateDep) -> dict[str, Any]:
    """Where the keys and endpoints are, for verifiers that discover them."""
    base = issuer(state, request)
    return {
        "issuer": base,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/v1/token",
        "introspection_endpoint": f"{base}/v1/introspect",
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "aud", "azp", "sid", "iat", "exp", "jti", "unionid"],
    }
