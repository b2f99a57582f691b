"""POST /v1/introspect: other backends ask "who is this token?" (RFC 7662).

The caller authenticates with ``Authorization: Bearer <service key>``, one of
``WXAUTH_SERVICE_KEYS`` (several, so keys can be rotated without downtime). The token comes
as JSON ``{"token"}`` or, as RFC 7662 clients send it, form-encoded ``token=...``.

An active token answers the RFC 7662 fields plus ``openid``, ``unionid`` and the public
``user``; anything else (unknown, expired, revoked, garbage) answers exactly
``{"active": false}``, so a caller learns nothing about why.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from wxauth.api.deps import StateDep
from wxauth.api.schemas import ErrorBody
from wxauth.api.service_keys import ServiceKeyDep, require_scope
from wxauth.config import SCOPE_INTROSPECT, ServiceKey
from wxauth.errors import AccountDisabled, AppDisabled, InvalidRequest, InvalidToken
from wxauth.wire import Introspection

router = APIRouter(prefix="/v1", tags=["integrations"])

FORM = "application/x-www-form-urlencoded"


class IntrospectRequest(BaseModel):
    # RFC 7662 lets callers add parameters (token_type_hint, client_id): they are ignored.
    model_config = ConfigDict(extra="ignore")

    token: str
    # The app the caller serves: a token of any other app is answered inactive.
    appid: str | None = None


def key_matches(presented: str, keys: Sequence[SecretStr]) -> bool:
    """Whether ``presented`` is one of ``keys``, in time independent of where they differ.

    Both sides are hashed first so that neither the length nor the position of the first
    difference shows; every key is compared, so the time does not say which one matched.
    """
    given = hashlib.sha256(presented.encode("utf-8")).digest()
    matched = False
    for key in keys:
        wanted = hashlib.sha256(key.get_secret_value().encode("utf-8")).digest()
        matched |= hmac.compare_digest(given, wanted)
    return matched


async def require_service_key(key: ServiceKeyDep) -> ServiceKey:
    """A service key allowed to introspect (403 ``forbidden`` for one that is not)."""
    require_scope(key, SCOPE_INTROSPECT)
    return key


IntrospectingKey = Annotated[ServiceKey, Depends(require_service_key)]


async def read_request(request: Request) -> IntrospectRequest:
    """The body as JSON or form-encoded; malformed bodies render like any other (400/422)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == FORM:
            try:
                fields = dict(parse_qsl(raw.decode("utf-8"), strict_parsing=False))
            except UnicodeDecodeError as exc:
                raise InvalidRequest("The form body is not UTF-8.") from exc
            return IntrospectRequest.model_validate(fields)
        return IntrospectRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc


@router.post(
    "/introspect",
    response_model_exclude_unset=True,
    responses={
        400: {"model": ErrorBody, "description": "a body that is not JSON or UTF-8 form data"},
        401: {"model": ErrorBody, "description": "the service key is missing or wrong"},
        403: {"model": ErrorBody, "description": "the service key may not introspect"},
        429: {"model": ErrorBody, "description": "too many wrong service keys from the address"},
        422: {"model": ErrorBody, "description": "no token in the body"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": IntrospectRequest.model_json_schema()},
                FORM: {"schema": IntrospectRequest.model_json_schema()},
            },
        }
    },
)
async def introspect(
    request: Request, response: Response, state: StateDep, key: IntrospectingKey
) -> Introspection:
    """Whether a session token is active, and whose it is (RFC 7662). A token of an app the
    service key is not allowed is answered as inactive."""
    response.headers["Cache-Control"] = "no-store"
    body = await read_request(request)
    try:
        auth = await state.wiring.authenticator.authenticate(body.token, appid=body.appid)
    except (InvalidToken, AccountDisabled, AppDisabled):
        return Introspection(active=False)
    if not key.allows(SCOPE_INTROSPECT, auth.session.appid):
        return Introspection(active=False)
    return Introspection.of(auth)
