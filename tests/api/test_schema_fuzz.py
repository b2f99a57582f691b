"""schemathesis against /openapi.json: no 5xx, and every answer matches the documented schema.

A bounded number of examples per operation keeps it fast; the database is a real (SQLite)
one and a real token is sent, so authenticated operations are exercised past the 401.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import APPID
from wxauth.api.app import create_app
from wxauth.config import Settings
from wxauth.core.models import ClientInfo, LoginRecord
from wxauth.core.tokens import new_token
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore
from wxauth.wiring import session_policy

EXAMPLES = 40
# Invalid data may also be refused as too large (413): a body past the size limit is refused
# before it is parsed.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        }
    }
)
# A schema-valid login code may still be unknown to WeChat: 400 invalid_code is right, so
# "schema-valid data must be accepted" does not hold for this API. Every other check runs.


async def _signed_in(settings: Settings) -> str:
    """A token for a user stored straight in the database (no WeChat needed)."""
    token = new_token()
    now = datetime.now(UTC)
    session = session_policy(settings).new_session(token, "", APPID, now, ClientInfo())
    engine = create_engine(settings.database_url)
    try:
        record = LoginRecord(APPID, "o-fuzz", None, "not-a-real-ciphertext", session)
        await SqlStore(engine).record_login(record)
    finally:
        await engine.dispose()
    return token


@pytest.fixture
def fuzzed(settings: Settings, sim_state: SimulatorState) -> tuple[FastAPI, str]:
    quiet = settings.model_copy(
        update={"rate_limit_login_ip": 0, "rate_limit_login_appid": 0, "rate_limit_token": 0}
    )
    transport = httpx.ASGITransport(app=create_simulator_app(sim_state))
    return create_app(quiet, wechat_transport=transport), asyncio.run(_signed_in(settings))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_against_its_schema(fuzzed: tuple[FastAPI, str], mode: GenerationMode) -> None:
    app, token = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        has_input = bool(len(operation.body) or len(operation.query) or len(operation.headers))
        if mode is GenerationMode.NEGATIVE and not has_input:
            continue  # nothing to get wrong: negative data cannot be made

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # A valid token unless the case brings its own Authorization (or other) headers.
            headers = {"Authorization": f"Bearer {token}"} if not case.headers else None
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        check()
