"""Avatars in the database (``WXAUTH_AVATAR_STORAGE=database``): every server of a deployment
serves every avatar, with nothing to share but the database it already has.

A stored avatar is re-encoded and at most 640 px a side (tens of kilobytes), named by its
content: storing a picture that is already there only renews its time (so that ``wxauth
avatars prune`` leaves it), and two servers storing the same picture at once store it once.
"""

from __future__ import annotations

import functools
from collections.abc import Set
from datetime import UTC, datetime, timedelta

from sqlalchemy import Delete, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.avatar import AvatarImage
from wxauth.storage.avatars import NAME
from wxauth.storage.boundary import translated
from wxauth.storage.tables import avatar_images
from wxauth.storage.writes import Writes

PRUNE_BATCH = 500


class SqlAvatarStorage:
    """:class:`~wxauth.core.avatar.AvatarStorage` in the ``avatar_images`` table.

    ``writes``: the store's write paths, given on SQLite so that avatars are written by the
    process's one writer thread, in turn with the other processes, like every other write
    (:mod:`wxauth.storage.writes_sqlite`)."""

    def __init__(self, engine: AsyncEngine, *, writes: Writes | None = None) -> None:
        self.engine = engine
        self._writes = writes

    def __repr__(self) -> str:
        return f"SqlAvatarStorage({self.engine.dialect.name})"

    async def save(self, name: str, image: AvatarImage) -> None:
        if not NAME.match(name):
            raise ValueError("not an avatar name")
        now = datetime.now(UTC)
        renew = update(avatar_images).where(avatar_images.c.name == name).values(stored_at=now)
        if self._writes is not None:
            store = insert(avatar_images).values(name=name, data=image.data, stored_at=now)

            def body(conn: Connection) -> None:
                if not conn.execute(renew).rowcount:  # under the write lock: no race
                    conn.execute(store)

            await self._writes.run(body)
            return
        with translated():
            async with self.engine.begin() as conn:
                if (await conn.execute(renew)).rowcount:
                    return  # content-addressed: the same name holds the same bytes
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        insert(avatar_images).values(name=name, data=image.data, stored_at=now)
                    )
            except IntegrityError:
                pass  # another server stored the same picture a moment ago

    async def load(self, name: str) -> AvatarImage | None:
        if not NAME.match(name):
            return None
        query = select(avatar_images.c.data).where(avatar_images.c.name == name)
        with translated():
            async with self.engine.connect() as conn:
                data = (await conn.execute(query)).scalar_one_or_none()
        return None if data is None else AvatarImage(bytes(data), name.rsplit(".", 1)[1])

    async def prune(self, keep: Set[str], *, grace_s: float, dry_run: bool = False) -> list[str]:
        """Delete the avatars not in ``keep`` stored (or renewed) more than ``grace_s``
        seconds ago; the names deleted (or that would be, with ``dry_run``)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=grace_s)
        old = select(avatar_images.c.name).where(avatar_images.c.stored_at < cutoff)
        with translated():
            async with self.engine.connect() as conn:
                names = sorted(set((await conn.scalars(old)).all()) - set(keep))
            if dry_run:
                return names
            for start in range(0, len(names), PRUNE_BATCH):
                batch = names[start : start + PRUNE_BATCH]
                # Checked again in the statement: an upload may have renewed one since.
                gone = delete(avatar_images).where(
                    avatar_images.c.name.in_(batch), avatar_images.c.stored_at < cutoff
                )
                if self._writes is not None:
                    await self._writes.run(functools.partial(_run, gone))
                    continue
                async with self.engine.begin() as conn:
                    await conn.execute(gone)
        return names


def _run(statement: Delete, conn: Connection) -> None:
    conn.execute(statement)
