"""LocalVerifier: the same database as the service, no network, no cache."""

from __future__ import annotations

import pytest

from tests.conftest import APPID, FakeClock, Harness, bearer
from wxauth.config import Settings
from wxauth.errors import InvalidToken
from wxauth.integrations import LocalVerifier


async def test_checks_tokens_in_the_services_database(
    harness: Harness, settings: Settings, clock: FakeClock
) -> None:
    login = await harness.login("alice")
    # A backend process configured with the database only: no app secrets, no at-rest keys.
    backend = Settings(database_url=settings.database_url)
    verifier = LocalVerifier.from_settings(backend, clock=clock)
    try:
        identity = await verifier.verify(login["token"])
        assert (identity.user_id, identity.appid) == (login["user"]["id"], APPID)
        assert identity.user.model_dump(mode="json") == login["user"]

        await harness.api.post("/v1/logout", headers=bearer(login["token"]))
        with pytest.raises(InvalidToken):  # revocation is immediate: nothing is cached
            await verifier.verify(login["token"])
        for garbage in ("", "garbage", "wxa_" + "A" * 43):
            with pytest.raises(InvalidToken):
                await verifier.verify(garbage)
    finally:
        await verifier.aclose()


async def test_expired_token_is_refused(
    harness: Harness, settings: Settings, clock: FakeClock
) -> None:
    token = (await harness.login("alice"))["token"]
    verifier = LocalVerifier.from_settings(settings, clock=clock)
    try:
        clock.advance(days=8)  # past the idle TTL
        with pytest.raises(InvalidToken):
            await verifier.verify(token)
    finally:
        await verifier.aclose()
