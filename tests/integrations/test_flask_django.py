"""The Flask decorator and the Django middleware, against a real ``wxauth dev``: Flask reads
its database in-process (LocalVerifier), Django asks it over HTTP (the default setup)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory
from flask import Flask, jsonify
from flask.testing import FlaskClient
from flask.typing import ResponseReturnValue

from tests.conftest import bearer
from tests.integrations.conftest import SERVICE_KEY, WxAuthServer
from tests.integrations.fakes import TableVerifier
from wxauth.config import Settings
from wxauth.integrations import BlockingVerifier, LocalVerifier
from wxauth.integrations import django as wx_django
from wxauth.integrations.flask import current_user, init_app, login_required

if not django_settings.configured:
    django_settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], USE_TZ=True)


@pytest.fixture
def flask_client(wxauth_server: WxAuthServer) -> Iterator[FlaskClient]:
    app = Flask("biz")
    database = Settings(database_url=f"sqlite+aiosqlite:///{wxauth_server.db}")
    verifier = init_app(app, LocalVerifier.from_settings(database))

    @app.get("/whoami")
    @login_required
    def whoami() -> ResponseReturnValue:
        return jsonify(user_id=current_user().user_id)

    try:
        yield app.test_client()
    finally:
        verifier.close()


def test_flask_accepts_then_refuses_at_once_after_logout(
    flask_client: FlaskClient, wxauth_server: WxAuthServer
) -> None:
    token = wxauth_server.login("gina")
    response = flask_client.get("/whoami", headers=bearer(token))
    assert response.status_code == 200 and response.get_json()["user_id"]
    wxauth_server.logout(token)
    refused = flask_client.get("/whoami", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_token"
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("headers", [{}, bearer("garbage"), {"Authorization": "Basic x"}])
def test_flask_refuses_garbage(flask_client: FlaskClient, headers: dict[str, str]) -> None:
    response = flask_client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert set(response.get_json()) == {"error", "message", "request_id"}


@wx_django.login_required
def django_whoami(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user_id": request.wxauth_user.user_id})


@pytest.fixture
def django_middleware(
    wxauth_server: WxAuthServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[wx_django.WxAuthMiddleware]:
    monkeypatch.setenv("WXAUTH_SERVER_URL", wxauth_server.url)
    monkeypatch.setenv("WXAUTH_SERVICE_KEY", SERVICE_KEY)
    middleware = wx_django.WxAuthMiddleware(django_whoami)
    try:
        yield middleware
    finally:
        middleware.verifier.close()


def call(middleware: wx_django.WxAuthMiddleware, **headers: str) -> Any:
    return middleware(RequestFactory().get("/whoami", headers=headers))


def test_django_accepts_a_wxauth_token(
    django_middleware: wx_django.WxAuthMiddleware, wxauth_server: WxAuthServer
) -> None:
    token = wxauth_server.login("hank")
    response = call(django_middleware, Authorization=f"Bearer {token}")
    assert response.status_code == 200
    assert json.loads(response.content)["user_id"]


@pytest.mark.parametrize("authorization", [None, "Bearer garbage", "Bearer wxa_" + "A" * 43])
def test_django_refuses_like_the_service(
    django_middleware: wx_django.WxAuthMiddleware, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = call(django_middleware, **headers)
    assert response.status_code == 401
    assert json.loads(response.content)["error"] == "invalid_token"
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def make_table_verifier() -> TableVerifier:
    return TableVerifier()


def test_django_verifier_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"{__name__}.make_table_verifier"
    monkeypatch.setattr(django_settings, "WXAUTH_VERIFIER", path, raising=False)
    verifier = wx_django.configured_verifier()
    try:
        assert isinstance(verifier, BlockingVerifier)
        assert isinstance(verifier.verifier, TableVerifier)
    finally:
        verifier.close()
