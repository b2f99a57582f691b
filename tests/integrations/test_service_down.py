"""The remote verifier while the wxauth service is briefly down (the real ``wxauth dev``
subprocess, stopped and started again on the same port and database)."""

from __future__ import annotations

import pytest

from tests.integrations.conftest import SERVICE_KEY, MonotonicClock, WxAuthServer
from wxauth.errors import AuthUnavailable, InvalidToken
from wxauth.integrations import RemoteVerifier

TTL = 10.0


async def test_survives_a_short_outage_and_never_outstays_the_bound(
    restartable_server: WxAuthServer, mono: MonotonicClock
) -> None:
    server = restartable_server
    seen, unseen, revoked = (server.login(u) for u in ("outage-1", "outage-2", "outage-3"))
    verifier = RemoteVerifier(server.url, SERVICE_KEY, cache_ttl=TTL, timeout=2, clock=mono)
    try:
        await verifier.verify(seen)
        await verifier.verify(revoked)
        server.logout(revoked)  # revoked while this backend still has it cached
        server.stop()

        mono.advance(TTL / 2)
        assert (await verifier.verify(seen)).user_id  # a cached positive, within its TTL
        with pytest.raises(AuthUnavailable) as raised:  # nothing cached: a clear 503
            await verifier.verify(unseen)
        assert raised.value.status == 503 and "Retry-After" in raised.value.headers()

        mono.advance(TTL / 2)
        for token in (seen, revoked):  # past the bound: never accepted on stale knowledge
            with pytest.raises(AuthUnavailable):
                await verifier.verify(token)

        server.start()
        assert (await verifier.verify(seen)).user_id
        assert (await verifier.verify(unseen)).user_id
        with pytest.raises(InvalidToken):
            await verifier.verify(revoked)
    finally:
        await verifier.aclose()
