"""The delivery worker through a PostgreSQL outage (a proxy that drops every connection):
it pauses, says so once, and delivers everything when the database is back, with no
restart."""

from __future__ import annotations

import base64
import dataclasses
import logging

import pytest
from sqlalchemy.engine import make_url

from tests.storage.webhook_contract import record, subscription
from tests.tcpproxy import TcpProxy
from tests.webhooks.conftest import make_worker, running
from tests.webhooks.receiver import Receiver, eventually
from wxauth.core.keyring import Keyring, generate_key
from wxauth.core.webhook_signing import new_secret
from wxauth.core.webhooks import USER_CREATED
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore

from .conftest import emptied


async def test_a_database_outage_pauses_the_worker_until_it_is_back(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await (await emptied(postgres_url)).dispose()
    url = make_url(postgres_url)
    assert url.port is not None
    proxy = TcpProxy(url.port)
    await proxy.up()
    engine = create_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    store = SqlStore(engine, webhook_ttl=0)
    keyring = Keyring([base64.urlsafe_b64decode(generate_key())])
    receiver = Receiver()
    await receiver.start()
    try:
        sub = dataclasses.replace(
            subscription((USER_CREATED,)),
            url=receiver.url,
            secret_enc=keyring.encrypt(new_secret()),
        )
        await store.webhooks.add_subscription(sub)
        for n in range(3):
            await store.record_login(record(f"o-{n}"))
        worker = make_worker(store, keyring)
        await worker.gate.current()
        await proxy.down()
        with caplog.at_level(logging.WARNING, logger="wxauth.core.webhook_worker"), running(worker):
            await eventually(lambda: worker.paused)
            assert receiver.received == []
            await proxy.up()
            await eventually(lambda: len(receiver.received) == 3)
            await eventually(lambda: not worker.paused)
        notes = [r.getMessage() for r in caplog.records]
        assert notes.count("webhooks: delivery paused (StorageUnavailable)") == 1
        assert "webhooks: the database answers again; delivering" in notes
    finally:
        await receiver.stop()
        await engine.dispose()
        await proxy.aclose()
