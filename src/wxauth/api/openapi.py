"""The OpenAPI document, made true to what the server sends.

FastAPI describes validation failures as its own ``{"detail": [...]}`` (HTTPValidationError);
wxauth answers them, like every error, with :class:`~wxauth.wire.ErrorBody`. The headers
that come with some errors (``WWW-Authenticate`` on 401, ``Retry-After`` on 429 and 503) are
declared too. ``tests/api/test_openapi.py`` holds the document to what the tests see.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_REF = "#/components/schemas/ErrorBody"
HEADERS: dict[str, dict[str, dict[str, Any]]] = {
    "401": {
        "WWW-Authenticate": {
            "description": 'Bearer error="invalid_token"',
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "Seconds until a retry may succeed.",
            "schema": {"type": "integer"},
        }
    },
    "503": {
        "Retry-After": {
            "description": "Seconds until a retry may succeed.",
            "schema": {"type": "integer"},
        }
    },
}
FASTAPI_ONLY = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Serve the corrected document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = corrected(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def corrected(spec: dict[str, Any]) -> dict[str, Any]:
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                _correct(status, response)
    schemas = spec.get("components", {}).get("schemas", {})
    for name in FASTAPI_ONLY:
        schemas.pop(name, None)
    return spec


def _correct(status: str, response: dict[str, Any]) -> None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    fastapi_own = schema.get("$ref", "").endswith("/HTTPValidationError")
    if status.startswith(("4", "5")) and (fastapi_own or not schema):
        response["content"] = {"application/json": {"schema": {"$ref": ERROR_REF}}}
        if fastapi_own:
            response["description"] = "invalid_request: a wrong field or value"
    if status in HEADERS:
        response.setdefault("headers", {}).update(HEADERS[status])
