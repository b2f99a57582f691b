"""Avatars in a local directory (``WXAUTH_AVATAR_DIR``); writes are atomic (temp + rename).

Names come from the content, so one file may serve several users, and replacing a user's
avatar cannot delete the old file on the spot. :meth:`LocalAvatarStorage.prune` (``wxauth
avatars prune``) deletes the files that no user points at any more, once they are older than a
grace period: an upload stores its file a moment before the user's row points at it, and
storing a picture that is already there renews the file's time.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from collections.abc import Set
from pathlib import Path

from wxauth.core.avatar import AvatarImage

NAME = re.compile(r"^[0-9a-f]{40}\.(png|jpg)$")


class LocalAvatarStorage:
    """:class:`~wxauth.core.avatar.AvatarStorage` on the local file system."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"LocalAvatarStorage({str(self.directory)!r})"

    async def save(self, name: str, image: AvatarImage) -> None:
        await asyncio.to_thread(self._write, self._path(name), image.data)

    async def load(self, name: str) -> AvatarImage | None:
        if not NAME.match(name):
            return None
        path = self._path(name)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        return AvatarImage(data, name.rsplit(".", 1)[1])

    def _path(self, name: str) -> Path:
        if not NAME.match(name):  # names are ours; anything else could walk the file system
            raise ValueError("not an avatar name")
        return self.directory / name[:2] / name

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # content-addressed: the same name holds the same bytes
            os.utime(path)  # in use again: not for pruning
            return
        except FileNotFoundError:
            pass  # new, or pruned just now: write it
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def prune(self, keep: Set[str], *, grace_s: float, dry_run: bool = False) -> list[str]:
        """Delete the avatars not in ``keep`` whose file is older than ``grace_s`` seconds,
        and leftover temporary files as old; the names of the avatars deleted (or that would
        be, with ``dry_run``)."""
        return await asyncio.to_thread(self._prune, keep, grace_s, dry_run)

    def _prune(self, keep: Set[str], grace_s: float, dry_run: bool) -> list[str]:
        if not self.directory.is_dir():
            return []
        deleted = []
        for shard in sorted(self.directory.iterdir()):
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for path in sorted(shard.iterdir()):
                avatar = NAME.match(path.name) is not None
                if avatar and path.name in keep:
                    continue
                if not avatar and not _is_temporary(path):
                    continue  # not ours
                # Checked right before unlinking: an upload that stored this picture again
                # has renewed its time.
                if not _older_than(path, grace_s):
                    continue
                if not dry_run:
                    path.unlink(missing_ok=True)
                if avatar:
                    deleted.append(path.name)
        return deleted


def _is_temporary(path: Path) -> bool:
    """A write's temporary file (``.<name>.<random>.tmp``) that a crash left behind."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False
