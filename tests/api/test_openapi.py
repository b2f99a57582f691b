"""The OpenAPI document says what the server does. (Every status the in-process tests see is
also checked against it at the end of the run: tests/conftest.py, pytest_sessionfinish.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Harness, bearer, undocumented
from wxauth.api.app import create_app
from wxauth.config import Settings


@pytest.fixture
def spec(settings: Settings) -> dict[str, Any]:
    app: FastAPI = create_app(settings)
    return app.openapi()


def responses(spec: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (method, path, status, response)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
    ]


def test_errors_are_documented_as_the_error_body(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, status, response in responses(spec):
        if status == "422" or (status.startswith("4") and path.startswith("/v1/")):
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_error_headers_are_documented(spec: dict[str, Any]) -> None:
    for method, path, status, response in responses(spec):
        headers = response.get("headers", {})
        if status == "401":
            assert "WWW-Authenticate" in headers, (method, path)
        if status in ("429", "503"):
            assert "Retry-After" in headers, (method, path, status)


def test_profile_documents_a_bad_signature(spec: dict[str, Any]) -> None:
    described = spec["paths"]["/v1/me/profile"]["post"]["responses"]["400"]["description"]
    assert "invalid_signature" in described


def test_login_examples_look_like_what_a_phone_sends(spec: dict[str, Any]) -> None:
    login = spec["components"]["schemas"]["LoginRequest"]["properties"]
    assert login["code"]["examples"][0].isalnum()
    assert login["appid"]["examples"][0].startswith("wx")


async def test_the_session_end_check_finds_an_undocumented_answer(
    harness: Harness, spec: dict[str, Any]
) -> None:
    """The end-of-run check is not vacuous: a status a route does not document is named."""
    token = (await harness.login("alice"))["token"]
    me = await harness.api.get("/v1/me", headers=bearer(token))
    assert me.status_code == 200
    seen = {("GET", "/v1/me", 200), ("GET", "/v1/me", 418), ("GET", "/nowhere", 500)}
    assert undocumented(seen, spec) == ["GET /v1/me answered 418"]
