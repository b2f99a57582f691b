"""Django (``pip install 'wxauth[django]'``): a middleware that puts the
:class:`~wxauth.integrations.identity.Identity` on ``request.wxauth_user`` and a
:func:`login_required` decorator.

::

    MIDDLEWARE = [..., "wxauth.integrations.django.WxAuthMiddleware"]
    WXAUTH_VERIFIER = "myshop.auth.verifier"   # optional, see below

``WXAUTH_VERIFIER`` names (dotted path) a verifier or a function returning one; without it
the middleware asks the wxauth server at ``WXAUTH_SERVER_URL`` with ``WXAUTH_SERVICE_KEY``
from the environment. Without a token ``request.wxauth_user`` is ``None``; a token that is
sent but not valid answers 401 ``invalid_token`` as the wxauth API does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string

from wxauth.errors import InvalidToken, WxAuthError
from wxauth.integrations.blocking import BlockingVerifier
from wxauth.integrations.identity import Refusal, bearer_token
from wxauth.integrations.remote import RemoteVerifier
from wxauth.integrations.settings import VerifierSettings

View = Callable[..., HttpResponse]


class WxAuthMiddleware:
    def __init__(self, get_response: View) -> None:
        self.get_response = get_response
        self.verifier = configured_verifier()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.wxauth_user = None
        token = bearer_token(request.headers.get("Authorization"))
        if token is not None:
            try:
                request.wxauth_user = self.verifier.verify(token)
            except WxAuthError as exc:
                return refusal_response(exc, request)
        return self.get_response(request)


def login_required(view: View) -> View:
    """401 ``invalid_token`` unless the middleware found a valid token."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not hasattr(request, "wxauth_user"):
            raise RuntimeError("add wxauth.integrations.django.WxAuthMiddleware to MIDDLEWARE")
        if request.wxauth_user is None:
            return refusal_response(InvalidToken(), request)
        return view(request, *args, **kwargs)

    return checked


def configured_verifier() -> BlockingVerifier:
    name = getattr(django_settings, "WXAUTH_VERIFIER", None)
    if name is None:
        return BlockingVerifier(RemoteVerifier.from_settings(VerifierSettings()))
    found: Any = import_string(name)
    if callable(found) and not hasattr(found, "verify"):
        found = found()  # a factory
    return found if isinstance(found, BlockingVerifier) else BlockingVerifier(found)


def refusal_response(error: WxAuthError, request: HttpRequest) -> HttpResponse:
    refusal = Refusal.of(error, request.headers.get("X-Request-ID"))
    response = JsonResponse(refusal.body, status=refusal.status)
    for name, value in refusal.headers.items():
        response[name] = value
    return response
