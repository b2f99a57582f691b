"""Avatars in a local directory (``WXAUTH_AVATAR_DIR``); writes are atomic (temp + rename)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
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
        if path.exists():  # content-addressed: the same name holds the same bytes
            return
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
