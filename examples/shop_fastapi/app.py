"""A small shop backend that trusts wxauth for "who is this?".

The mini program logs in with wxauth and sends the same token here. Orders are kept per
wxauth user id, in memory (a real shop would use its own database, keyed the same way).

Run it beside a wxauth server (see README.md)::

    WXAUTH_SERVER_URL=http://127.0.0.1:8000 WXAUTH_SERVICE_KEY=... \\
        uvicorn examples.shop_fastapi.app:app_from_environment --factory --port 8100
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field

from wxauth.integrations import RemoteVerifier, TokenVerifier, VerifierSettings
from wxauth.integrations.fastapi import CurrentUser, OptionalUser, install

PRODUCTS = {"tea": 18, "mooncake": 32, "dumplings": 25}


class NewOrder(BaseModel):
    item: Literal["tea", "mooncake", "dumplings"]
    quantity: Annotated[int, Field(ge=1, le=99)] = 1


class Order(NewOrder):
    id: int
    total: int


class Shop:
    def __init__(self) -> None:
        self._orders: dict[str, list[Order]] = defaultdict(list)
        self._next_id = 1

    def orders_of(self, user_id: str) -> list[Order]:
        return list(self._orders[user_id])

    def place(self, user_id: str, order: NewOrder) -> Order:
        placed = Order(
            id=self._next_id, total=PRODUCTS[order.item] * order.quantity, **order.model_dump()
        )
        self._next_id += 1
        self._orders[user_id].append(placed)
        return placed


def create_shop(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI(title="shop")
    install(app, verifier)  # CurrentUser now works; closed with the app
    shop = Shop()

    @app.get("/products")
    async def products(user: OptionalUser) -> dict[str, object]:
        """Public; greets a signed-in user by name."""
        name = user.user.nickname if user else None
        return {"hello": name or "guest", "products": PRODUCTS}

    @app.get("/orders")
    async def my_orders(user: CurrentUser) -> list[Order]:
        return shop.orders_of(user.user_id)

    @app.post("/orders", status_code=201)
    async def place_order(order: NewOrder, user: CurrentUser) -> Order:
        return shop.place(user.user_id, order)

    return app


def app_from_environment() -> FastAPI:
    return create_shop(RemoteVerifier.from_settings(VerifierSettings()))
