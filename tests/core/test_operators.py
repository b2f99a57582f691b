"""Operator accounts and console sessions: hashing, expiry, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wxauth.core.keyring import Keyring, generate_key
from wxauth.core.memory_operators import MemoryOperatorStore
from wxauth.core.operators import Operators, SignInRefused, csrf_ok, csrf_token
from wxauth.errors import InvalidRequest

from ..conftest import FakeClock

PASSWORD = "correct horse battery staple"


@pytest.fixture
def operators(clock: FakeClock) -> Operators:
    import base64

    key = base64.urlsafe_b64decode(generate_key())
    return Operators(
        store=MemoryOperatorStore(),
        clock=clock,
        keyring=Keyring([key]),
        idle_ttl=timedelta(minutes=30),
        max_ttl=timedelta(hours=2),
    )


async def test_passwords_are_stored_as_argon2id_hashes(operators: Operators) -> None:
    operator = await operators.add("ops", PASSWORD, role="admin")
    assert (
        operator.password_hash.startswith("$argon2id$") and PASSWORD not in operator.password_hash
    )
    with pytest.raises(InvalidRequest):
        await operators.add("ops", "short", role="admin")
    with pytest.raises(InvalidRequest):
        await operators.add("ops", PASSWORD, role="root")  # type: ignore[arg-type]


async def test_a_wrong_password_or_unknown_name_is_one_refusal(operators: Operators) -> None:
    await operators.add("ops", PASSWORD, role="viewer")
    for name, password in (("ops", "not the password"), ("nobody", PASSWORD)):
        with pytest.raises(SignInRefused):
            await operators.sign_in(name, password, totp=None, ip="10.0.0.1")


async def test_sessions_expire_when_idle_and_at_their_absolute_end(
    operators: Operators, clock: FakeClock
) -> None:
    await operators.add("ops", PASSWORD, role="admin")
    idle = await operators.sign_in("ops", PASSWORD, totp=None, ip=None)
    clock.advance(minutes=31)
    assert await operators.authenticate(idle.token) is None

    kept = await operators.sign_in("ops", PASSWORD, totp=None, ip=None)
    for _ in range(4):  # used every 25 minutes: alive until the absolute end (2 h)
        clock.advance(minutes=25)
        assert await operators.authenticate(kept.token) is not None
    clock.advance(minutes=25)
    assert await operators.authenticate(kept.token) is None


async def test_a_new_password_ends_the_operators_sessions(operators: Operators) -> None:
    await operators.add("ops", PASSWORD, role="admin")
    signed = await operators.sign_in("ops", PASSWORD, totp=None, ip=None)
    await operators.add("ops", PASSWORD + "!", role="viewer")
    assert await operators.authenticate(signed.token) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    key = b"k" * 32
    token = csrf_token("session-a", key)
    assert csrf_ok("session-a", key, token)
    assert not csrf_ok("session-b", key, token)
    assert not csrf_ok("session-a", key, "")
