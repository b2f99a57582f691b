"""Re-encrypting what is stored under the at-rest keys with the newest one
(``wxauth keys rotate``): session_keys, app secrets and refresh tokens, component tickets,
signing keys, operators' TOTP secrets and webhook secrets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.keyring import Keyring, KeyringError
from wxauth.storage.tables import (
    apps,
    component_tickets,
    operators,
    signing_keys,
    webhook_subscriptions,
    wechat_sessions,
)

BATCH = 500


@dataclass(frozen=True, slots=True)
class Encrypted:
    """One column written under the at-rest keys, and what its values are called."""

    table: Table
    column: str
    what: str
    # How an operator replaces a value no configured key opens.
    remedy: str


ENCRYPTED = (
    Encrypted(
        wechat_sessions,
        "session_key_enc",
        "session_key",
        "each such user's next login stores a fresh session_key",
    ),
    Encrypted(apps, "secret_enc", "app secret", "set it again with `wxauth apps rotate-secret`"),
    Encrypted(
        apps,
        "refresh_token_enc",
        "authorizer refresh_token",
        "the merchant authorizes the platform again",
    ),
    Encrypted(
        component_tickets,
        "ticket_enc",
        "component_verify_ticket",
        "WeChat pushes a new one within 10 minutes",
    ),
    Encrypted(
        signing_keys, "private_key_enc", "signing key", "make a new one: wxauth keys rotate-signing"
    ),
    Encrypted(
        operators,
        "totp_secret_enc",
        "operator TOTP secret",
        "enrol the operator's authenticator again",
    ),
    Encrypted(
        webhook_subscriptions,
        "secret_enc",
        "webhook secret",
        "wxauth webhooks rotate-secret, and give receivers the new one",
    ),
)


@dataclass(slots=True)
class RotationReport:
    rotated: int = 0
    current: int = 0  # already under the newest key
    unreadable: int = 0  # no configured key opens them
    unreadable_by_kind: Counter[str] = field(default_factory=Counter)


async def rotate_stored_secrets(
    engine: AsyncEngine, keyring: Keyring, newest: Keyring, *, batch: int = BATCH
) -> RotationReport:
    """Re-encrypt, with ``keyring`` (newest key first), every stored value of
    :data:`ENCRYPTED` that ``newest`` cannot open.

    Rows are read in pages (by primary key) and updated only if unchanged since read
    (compare-and-set), so a write running at the same time (a login's new session_key, a
    rotated secret) is never overwritten with an older value.
    """
    report = RotationReport()
    for encrypted in ENCRYPTED:
        await _rotate_column(engine, keyring, newest, encrypted, report, batch)
    return report


async def _rotate_column(
    engine: AsyncEngine,
    keyring: Keyring,
    newest: Keyring,
    encrypted: Encrypted,
    report: RotationReport,
    batch: int,
) -> None:
    table, value = encrypted.table, encrypted.table.c[encrypted.column]
    key: list[Column[Any]] = list(table.primary_key.columns)
    after: tuple[Any, ...] | None = None
    while True:
        query = select(*key, value).where(value.is_not(None)).order_by(*key).limit(batch)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        async with engine.connect() as conn:
            rows = [tuple(r) for r in await conn.execute(query)]
        if not rows:
            return
        for row in rows:
            ident, ciphertext = row[:-1], row[-1]
            await _rotate_one(engine, keyring, newest, encrypted, key, ident, ciphertext, report)
        after = rows[-1][:-1]


async def _rotate_one(
    engine: AsyncEngine,
    keyring: Keyring,
    newest: Keyring,
    encrypted: Encrypted,
    key: list[Column[Any]],
    ident: tuple[Any, ...],
    ciphertext: str,
    report: RotationReport,
) -> None:
    try:
        newest.decrypt(ciphertext)
        report.current += 1
        return
    except KeyringError:
        pass
    try:
        rotated = keyring.rotate(ciphertext)
    except KeyringError:
        report.unreadable += 1
        report.unreadable_by_kind[encrypted.what] += 1
        return
    value = encrypted.table.c[encrypted.column]
    same_row = [c == v for c, v in zip(key, ident, strict=True)]
    async with engine.begin() as conn:
        result = await conn.execute(
            update(encrypted.table)
            .where(*same_row, value == ciphertext)
            .values({encrypted.column: rotated})
        )
    # No row changed: it was written again meanwhile, under the newest key.
    if result.rowcount == 1:
        report.rotated += 1
    else:
        report.current += 1


def remedies(report: RotationReport) -> list[str]:
    """For each kind of value no configured key opens: how many, and what replaces them."""
    found = []
    for encrypted in ENCRYPTED:
        count = report.unreadable_by_kind.get(encrypted.what, 0)
        if count:
            plural = "s" if count != 1 else ""
            found.append(f"{count} {encrypted.what}{plural}: {encrypted.remedy}")
    return found
