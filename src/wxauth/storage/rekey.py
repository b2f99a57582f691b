"""Re-encrypting stored session_keys under the newest at-rest key (``wxauth keys rotate``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.keyring import Keyring, KeyringError
from wxauth.storage.tables import wechat_sessions

BATCH = 500


@dataclass(slots=True)
class RotationReport:
    rotated: int = 0
    current: int = 0  # already under the newest key
    unreadable: int = 0  # no configured key opens them


async def rotate_session_keys(
    engine: AsyncEngine, keyring: Keyring, newest: Keyring, *, batch: int = BATCH
) -> RotationReport:
    """Re-encrypt, with ``keyring`` (newest key first), every session_key ``newest`` cannot open.

    Rows are read in pages and updated only if unchanged since read (compare-and-set), so
    logins running at the same time are never overwritten with an older key.
    """
    report = RotationReport()
    after: tuple[str, str] | None = None
    while True:
        rows = await _page(engine, after, batch)
        if not rows:
            return report
        for appid, openid, ciphertext in rows:
            await _rotate_one(engine, keyring, newest, (appid, openid, ciphertext), report)
        after = (rows[-1][0], rows[-1][1])


async def _page(
    engine: AsyncEngine, after: tuple[str, str] | None, batch: int
) -> list[tuple[str, str, str]]:
    c = wechat_sessions.c
    query = select(c.appid, c.openid, c.session_key_enc).order_by(c.appid, c.openid).limit(batch)
    if after is not None:
        query = query.where(tuple_(c.appid, c.openid) > tuple_(*after))
    async with engine.connect() as conn:
        return [(r[0], r[1], r[2]) for r in await conn.execute(query)]


async def _rotate_one(
    engine: AsyncEngine,
    keyring: Keyring,
    newest: Keyring,
    row: tuple[str, str, str],
    report: RotationReport,
) -> None:
    appid, openid, ciphertext = row
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
        return
    c = wechat_sessions.c
    async with engine.begin() as conn:
        result = await conn.execute(
            update(wechat_sessions)
            .where(c.appid == appid, c.openid == openid, c.session_key_enc == ciphertext)
            .values(session_key_enc=rotated)
        )
    # No row changed: a login replaced it meanwhile, written under the newest key.
    if result.rowcount == 1:
        report.rotated += 1
    else:
        report.current += 1
