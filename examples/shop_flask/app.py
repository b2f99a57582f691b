"""The same shop as ``examples/shop_fastapi``, as a synchronous Flask app.

Run it beside a wxauth server (see README.md)::

    WXAUTH_SERVER_URL=http://127.0.0.1:8000 WXAUTH_SERVICE_KEY=... \\
        flask --app 'examples.shop_flask.app:app_from_environment()' run --port 8200
"""

from __future__ import annotations

import atexit
from collections import defaultdict
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from wxauth.integrations import BlockingVerifier, RemoteVerifier, TokenVerifier, VerifierSettings
from wxauth.integrations.flask import current_user, init_app, login_required

PRODUCTS = {"tea": 18, "mooncake": 32, "dumplings": 25}


def create_shop(verifier: TokenVerifier | BlockingVerifier) -> Flask:
    app = Flask(__name__)
    init_app(app, verifier)
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)

    @app.get("/orders")
    @login_required
    def my_orders() -> ResponseReturnValue:
        return jsonify(orders[current_user().user_id])

    @app.post("/orders")
    @login_required
    def place_order() -> ResponseReturnValue:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="invalid_request", message="a JSON object is expected"), 400
        item, quantity = body.get("item"), body.get("quantity", 1)
        if item not in PRODUCTS or type(quantity) is not int or not 1 <= quantity <= 99:
            return jsonify(error="invalid_request", message="a known item, quantity 1-99"), 422
        mine = orders[current_user().user_id]
        order = {"id": len(mine) + 1, "item": item, "quantity": quantity}
        order["total"] = PRODUCTS[item] * quantity
        mine.append(order)
        return jsonify(order), 201

    return app


def app_from_environment() -> Flask:
    verifier = BlockingVerifier(RemoteVerifier.from_settings(VerifierSettings()))
    atexit.register(verifier.close)
    return create_shop(verifier)
