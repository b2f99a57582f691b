"""Rendering errors: every failure becomes ``{"error", "message", "request_id"}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from wxauth.errors import InvalidRequest, NotFound, WxAuthError
from wxauth.wire import error_body

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 413: "payload_too_large", 429: "rate_limited"}


def request_id_of(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def render(error: WxAuthError, request_id: str | None) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, request_id, error.wechat_errcode, error.details()),
        status_code=error.status,
        headers=error.headers(),
    )


async def _on_wxauth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WxAuthError)
    if exc.status >= 500:
        # WeChat being down is expected weather, not our bug: a warning, not an error.
        level = logging.WARNING if exc.status == 503 else logging.ERROR
        log.log(level, "%s %s -> %s: %s", request.method, request.url.path, exc.code, exc.message)
    return render(exc, request_id_of(request))


def describe_validation(errors: Any) -> str:
    parts = []
    for error in list(errors)[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is malformed."


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    malformed = any(e.get("type") == "json_invalid" for e in errors)
    error = InvalidRequest(
        "The body is not valid JSON." if malformed else describe_validation(errors)
    )
    response = render(error, request_id_of(request))
    response.status_code = 400 if malformed else 422
    return response


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return render(NotFound("No such endpoint."), request_id_of(request))
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    return JSONResponse(
        error_body(code, str(exc.detail), request_id_of(request)),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(WxAuthError, _on_wxauth_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
