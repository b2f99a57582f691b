"""Flask (``pip install 'wxauth[flask]'``): :func:`init_app` and a :func:`login_required`
decorator that puts the :class:`~wxauth.integrations.identity.Identity` on
``flask.g.wxauth_user``.

::

    app = Flask(__name__)
    verifier = init_app(app, RemoteVerifier.from_settings(VerifierSettings()))

    @app.get("/orders")
    @login_required
    def orders():
        return shop.orders_of(current_user().user_id)

A missing, unknown, expired or revoked token answers 401 ``invalid_token`` as the wxauth
API does. Call ``verifier.close()`` when the process stops.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from flask import Flask, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from wxauth.errors import WxAuthError
from wxauth.integrations.blocking import BlockingVerifier
from wxauth.integrations.identity import Identity, Refusal, TokenVerifier, bearer_token

EXTENSION = "wxauth"
P = ParamSpec("P")


def init_app(app: Flask, verifier: TokenVerifier | BlockingVerifier) -> BlockingVerifier:
    """Give ``app`` its verifier (an async one is run on a background loop); returns it."""
    if not isinstance(verifier, BlockingVerifier):
        verifier = BlockingVerifier(verifier)
    app.extensions[EXTENSION] = verifier
    return verifier


def login_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    @functools.wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        verifier: BlockingVerifier = current_app.extensions[EXTENSION]
        token = bearer_token(request.headers.get("Authorization"))
        try:
            g.wxauth_user = verifier.verify(token or "")
        except WxAuthError as exc:
            return refusal_response(exc)
        return view(*args, **kwargs)

    return checked


def current_user() -> Identity:
    """The user of a view behind :func:`login_required`."""
    identity: Identity = g.wxauth_user
    return identity


def refusal_response(error: WxAuthError) -> Response:
    refusal = Refusal.of(error, request.headers.get("X-Request-ID"))
    response = jsonify(refusal.body)
    response.status_code = refusal.status
    response.headers.update(refusal.headers)
    return response
