"""Avatars: what ``<button open-type="chooseAvatar">`` gives is a local file the mini program
uploads itself (``wx.uploadFile``). The upload is checked to be a real PNG, JPEG or WebP within
the size and dimension limits, re-encoded (metadata dropped, orientation applied, scaled down),
stored under a name derived from its content, and its URL set as the user's ``avatar_url``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from wxauth.core.models import User
from wxauth.core.ports import Clock, Store
from wxauth.errors import InvalidRequest, PayloadTooLarge

AVATARS_PATH = "/v1/avatars/"  # where stored avatars are served: {base}/v1/avatars/{name}
ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP"}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


@dataclass(frozen=True, slots=True)
class AvatarRules:
    max_bytes: int = 5 * 1024 * 1024
    max_side: int = 4096  # larger inputs are refused before decoding
    min_side: int = 16
    out_side: int = 640  # stored avatars are at most this big


@dataclass(frozen=True, slots=True)
class AvatarImage:
    data: bytes
    extension: str  # "png" (kept transparency) or "jpg"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.extension]

    @property
    def name(self) -> str:
        """A stable name: the same picture always gets the same URL."""
        return f"{hashlib.sha256(self.data).hexdigest()[:40]}.{self.extension}"


class AvatarStorage(Protocol):
    """Where avatars live (a local directory by default; an object store fits too)."""

    async def save(self, name: str, image: AvatarImage) -> None: ...

    async def load(self, name: str) -> AvatarImage | None: ...


def normalise(data: bytes, rules: AvatarRules) -> AvatarImage:
    """Check ``data`` is an accepted image within ``rules`` and re-encode it.

    The result is built afresh from the pixels: no EXIF, XMP, ICC profile, comment or text
    chunk of the upload survives."""
    if len(data) > rules.max_bytes:
        raise PayloadTooLarge(f"The avatar is larger than {rules.max_bytes} bytes.")
    image = _open(data, rules)
    image.thumbnail((rules.out_side, rules.out_side))
    # After scaling into a square box, turning the picture upright gives the same result as
    # before, on a fraction of the pixels.
    image = ImageOps.exif_transpose(image) or image
    keep_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    image = image.convert("RGBA" if keep_alpha else "RGB")
    clean = Image.frombytes(image.mode, image.size, image.tobytes())  # pixels, no info
    out = io.BytesIO()
    if keep_alpha:
        clean.save(out, "PNG", optimize=True)
    else:
        clean.save(out, "JPEG", quality=85, optimize=True)
    return AvatarImage(out.getvalue(), "png" if keep_alpha else "jpg")


def _open(data: bytes, rules: AvatarRules) -> Image.Image:
    not_image = InvalidRequest("The avatar must be a PNG, JPEG or WebP image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
            width, height = image.size
            if max(width, height) > rules.max_side or min(width, height) < rules.min_side:
                raise InvalidRequest(
                    f"The avatar must be between {rules.min_side} and {rules.max_side} pixels "
                    "on each side."
                )
            image.load()  # decodes fully: a truncated or corrupt file fails here
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise not_image from None
    except (OSError, ValueError, SyntaxError):
        raise not_image from None
    return image


class Avatars:
    """Takes an upload, stores it, and points the user's ``avatar_url`` at it."""

    def __init__(
        self, *, storage: AvatarStorage, store: Store, rules: AvatarRules, clock: Clock
    ) -> None:
        self._storage = storage
        self._store = store
        self.rules = rules
        self._clock = clock

    async def upload(self, user: User, data: bytes, *, base_url: str) -> User:
        """Store the avatar; ``base_url`` is where ``/v1/avatars/{name}`` is served from."""
        image = await asyncio.to_thread(normalise, data, self.rules)  # decoding is CPU work
        await self._storage.save(image.name, image)
        url = f"{base_url.rstrip('/')}{AVATARS_PATH}{image.name}"
        return await self._store.update_user(user.id, {"avatar_url": url}, self._clock())

    async def load(self, name: str) -> AvatarImage | None:
        return await self._storage.load(name)


async def referenced_avatars(store: Store) -> set[str]:
    """The names of the stored avatars that some user's ``avatar_url`` points at."""
    urls = await store.avatar_urls(AVATARS_PATH)
    return {url.rsplit(AVATARS_PATH, 1)[1] for url in urls}
