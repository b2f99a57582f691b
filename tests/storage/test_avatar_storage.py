"""The avatar storages, one contract: the local directory and the database (SQLite,
PostgreSQL, MariaDB)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from wxauth.core.avatar import AvatarImage, AvatarStorage
from wxauth.storage.avatars import LocalAvatarStorage
from wxauth.storage.avatars_sql import SqlAvatarStorage
from wxauth.storage.sql import SqlStore
from wxauth.storage.tables import avatar_images

from .conftest import emptied

A = AvatarImage(b"\xff\xd8\xff picture a", "jpg")
B = AvatarImage(b"\x89PNG picture b" * 1000, "png")


def age(storage: AvatarStorage, name: str, seconds: float) -> None:
    """Make ``name`` look stored ``seconds`` ago (what waiting would do)."""
    assert isinstance(storage, LocalAvatarStorage)
    path = storage.directory / name[:2] / name
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture(params=["directory", "sqlite", "postgres", "mariadb"])
def storage_url(request: pytest.FixtureRequest, db_path: Path) -> str | None:
    """None for the directory; else the database (the server ones are made once per run)."""
    if request.param == "directory":
        return None
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{db_path}"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def storage(storage_url: str | None, tmp_path: Path) -> AsyncIterator[AvatarStorage]:
    if storage_url is None:
        yield LocalAvatarStorage(tmp_path / "avatars")
        return
    engine = await emptied(storage_url)
    async with engine.begin() as conn:  # the session-wide databases are shared by tests
        await conn.execute(avatar_images.delete())
    if engine.dialect.name == "sqlite":  # as the wiring builds it: through the writer thread
        writes = SqlStore(engine).writes
        yield SqlAvatarStorage(engine, writes=writes)
        writes.close()
    else:
        yield SqlAvatarStorage(engine)
    await engine.dispose()


async def make_old(storage: AvatarStorage, name: str, seconds: float) -> None:
    if isinstance(storage, SqlAvatarStorage):
        from datetime import UTC, datetime, timedelta

        async with storage.engine.begin() as conn:
            then = datetime.now(UTC) - timedelta(seconds=seconds)
            await conn.execute(
                update(avatar_images).where(avatar_images.c.name == name).values(stored_at=then)
            )
    else:
        age(storage, name, seconds)


async def test_save_and_load(storage: AvatarStorage) -> None:
    assert await storage.load(A.name) is None
    await storage.save(A.name, A)
    await storage.save(B.name, B)
    assert await storage.load(A.name) == A
    assert await storage.load(B.name) == B
    await storage.save(A.name, A)  # the same picture again: still one, still the same
    assert await storage.load(A.name) == A


@pytest.mark.parametrize("name", ["../../etc/passwd", "x.jpg", "A" * 40 + ".jpg", ""])
async def test_names_that_are_not_ours_are_not_found(storage: AvatarStorage, name: str) -> None:
    assert await storage.load(name) is None
    with pytest.raises(ValueError, match="avatar name"):
        await storage.save(name, A)


async def test_prune_takes_old_unreferenced_ones_only(storage: AvatarStorage) -> None:
    await storage.save(A.name, A)
    await storage.save(B.name, B)
    await make_old(storage, A.name, 7200)
    await make_old(storage, B.name, 7200)
    assert await storage.prune(set(), grace_s=3600, dry_run=True) == sorted([A.name, B.name])
    assert await storage.load(A.name) == A  # a dry run deletes nothing
    assert await storage.prune({B.name}, grace_s=3600) == [A.name]
    assert await storage.load(A.name) is None
    assert await storage.load(B.name) == B


async def test_storing_again_renews(storage: AvatarStorage) -> None:
    await storage.save(A.name, A)
    await make_old(storage, A.name, 7200)
    await storage.save(A.name, A)  # uploaded again by someone: in use
    assert await storage.prune(set(), grace_s=3600) == []
    assert await storage.load(A.name) == A
