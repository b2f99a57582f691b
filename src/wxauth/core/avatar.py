"""Avatars: what ``<button open-type="chooseAvatar">`` gives is a local file the mini program
uploads itself (``wx.uploadFile``). The upload is checked to be a real PNG, JPEG or WebP within
the size and dimension limits, re-encoded (metadata dropped, orientation applied, scaled down),
stored under a name derived from its content, and its URL set as the user's ``avatar_url``.

A picture is untrusted work: its headers are read first, here and cheaply (format, width and
height, the number of JPEG scans), and only a picture within :class:`AvatarRules` is decoded,
in a worker process of :mod:`wxauth.core.decoder` with a time and a memory limit.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
import warnings
from collections import Counter
from collections.abc import Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from wxauth.core.models import User
from wxauth.core.ports import Clock, Store
from wxauth.errors import InvalidRequest, PayloadTooLarge, RateLimited

if TYPE_CHECKING:
    from wxauth.core.decoder import Decoders  # which imports this module

AVATARS_PATH = "/v1/avatars/"  # where stored avatars are served: {base}/v1/avatars/{name}
ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP"}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


@dataclass(frozen=True, slots=True)
class AvatarRules:
    max_bytes: int = 5 * 1024 * 1024
    max_side: int = 4096  # larger inputs are refused before decoding
    min_side: int = 16
    out_side: int = 640  # stored avatars are at most this big
    # Decoding costs memory by the pixel: a 12 MP phone picture fits, 4096 x 4096 does not.
    max_pixels: int = 4096 * 3072
    # Each scan of a progressive JPEG is another pass over the whole picture; encoders write
    # about ten. Counted from the markers before decoding.
    max_scans: int = 64
    decode_timeout: float = 3.0  # seconds a worker may spend on one picture; then it is killed
    decode_memory: int = 512 * 1024 * 1024  # address space of a worker process
    decode_workers: int = 2  # pictures decoded at once (worker processes)
    queue_timeout: float = 2.0  # seconds an upload may wait for a free worker
    queue_limit: int = 8  # uploads waiting for a worker; more are refused at once
    uploads_per_user: int = 1  # a user's uploads in flight at once


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

    async def prune(self, keep: Set[str], *, grace_s: float, dry_run: bool = False) -> list[str]:
        """Delete stored avatars not in ``keep`` older than ``grace_s`` seconds (storing a
        picture again renews it); the names deleted, or that would be with ``dry_run``."""
        ...


# Headers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    """What a picture's headers say, read without decoding it."""

    format: str  # "PNG", "JPEG" or "WEBP"
    width: int
    height: int
    scans: int = 1  # JPEG: the SOS markers a decoder would read


def not_an_image() -> InvalidRequest:
    return InvalidRequest("The avatar must be a PNG, JPEG or WebP image.")


def check_header(data: bytes, rules: AvatarRules) -> Header:
    """Refuse ``data`` unless its headers are an accepted format within ``rules``; cheap (a
    pass over the bytes at most, no decoding), so it runs before any decoding is queued."""
    if len(data) > rules.max_bytes:
        raise PayloadTooLarge(f"The avatar is larger than {rules.max_bytes} bytes.")
    header = read_header(data, max_scans=rules.max_scans)
    if header is None:
        raise not_an_image()
    check_size(header.width, header.height, rules)
    if header.scans > rules.max_scans:
        raise InvalidRequest(f"The avatar has more than {rules.max_scans} JPEG scans.")
    return header


def check_size(width: int, height: int, rules: AvatarRules) -> None:
    if max(width, height) > rules.max_side or min(width, height) < rules.min_side:
        raise InvalidRequest(
            f"The avatar must be between {rules.min_side} and {rules.max_side} pixels on each side."
        )
    if width * height > rules.max_pixels:
        raise InvalidRequest(f"The avatar has more than {rules.max_pixels} pixels.")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_header(data: bytes, *, max_scans: int = 64) -> Header | None:
    """The format and size ``data`` declares, or None when it is none of ours (or broken)."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", data[16:24])
        return Header("PNG", width, height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_header(data, max_scans)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp_header(data)
    return None


# The next marker a JPEG decoder acts on: 0xFF, not a stuffed 0x00, a restart marker inside
# the entropy-coded data, or a fill byte. libjpeg skips whatever else comes before a marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_STANDALONE = {0x01, 0xD8}  # TEM, SOI: no length
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_SOS, _EOI = 0xDA, 0xD9
MAX_JPEG_SEGMENTS = 1024  # a picture has a few dozen; walking more is work for nothing


def _jpeg_header(data: bytes, max_scans: int) -> Header | None:
    """Walk the markers as libjpeg reads them, up to EOI: the frame's size and the scans.

    Counting stops one scan over ``max_scans``: that is already a refusal."""
    size: tuple[int, int] | None = None
    scans = segments = 0
    pos = 2
    while scans <= max_scans:
        found = _NEXT_MARKER.search(data, pos)
        if found is None:
            break  # truncated: the decoder will say so
        marker, pos = data[found.start() + 1], found.end()
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            continue
        segments += 1
        if segments > MAX_JPEG_SEGMENTS or pos + 2 > len(data):
            return None
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            return None
        if marker in _SOF:
            if size is not None or pos + 7 > len(data):
                return None  # two frames: libjpeg refuses them too
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            size = (width, height)
        elif marker == _SOS:
            if size is None:
                return None  # a scan before the frame
            scans += 1
        pos += length  # a scan's entropy-coded data follows: the search skips it
    if size is None:
        return None
    return Header("JPEG", *size, scans=scans)


def _webp_header(data: bytes) -> Header | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return Header("WEBP", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return Header("WEBP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return Header("WEBP", width, height)
    return None


# Decoding (in a worker process: see wxauth.core.decoder) -----------------------------------


def normalise(data: bytes, rules: AvatarRules) -> AvatarImage:
    """Check ``data`` is an accepted image within ``rules`` and re-encode it.

    The result is built afresh from the pixels: no EXIF, XMP, ICC profile, comment or text
    chunk of the upload survives."""
    check_header(data, rules)
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
            check_size(*image.size, rules)  # what the decoder will make, not only the header
            # A JPEG is decoded straight at a fraction of its size (libjpeg scales by 1/2, 1/4
            # or 1/8) when it is much bigger than the avatar; twice the size is left for a
            # good resampling.
            image.draft(None, (2 * rules.out_side, 2 * rules.out_side))
            image.load()  # decodes fully: a truncated or corrupt file fails here
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise not_an_image() from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error):
        raise not_an_image() from None
    return image


# The service -------------------------------------------------------------------------------


class Avatars:
    """Takes an upload, stores it, and points the user's ``avatar_url`` at it.

    Decoding happens in worker processes (:class:`~wxauth.core.decoder.Decoders`), started on
    the first upload; :meth:`aclose` stops them."""

    def __init__(
        self,
        *,
        storage: AvatarStorage,
        store: Store,
        rules: AvatarRules,
        clock: Clock,
        decoders: Decoders | None = None,
    ) -> None:
        from wxauth.core.decoder import Decoders

        self._storage = storage
        self._store = store
        self.rules = rules
        self._clock = clock
        self.decoders = decoders or Decoders(
            workers=rules.decode_workers, memory=rules.decode_memory
        )
        self._in_flight: Counter[str] = Counter()  # user id -> uploads

    async def upload(self, user: User, data: bytes, *, base_url: str) -> User:
        """Store the avatar; ``base_url`` is where ``/v1/avatars/{name}`` is served from."""
        rules = self.rules
        check_header(data, rules)  # a bomb is refused here, before it costs a worker
        if self._in_flight[user.id] >= rules.uploads_per_user:
            raise RateLimited(
                "An avatar upload of yours is still being processed; retry when it is done.",
                retry_after=math.ceil(rules.queue_timeout + rules.decode_timeout),
            )
        self._in_flight[user.id] += 1
        try:
            image = await self.decoders.normalise(data, rules)
            await self._storage.save(image.name, image)
            url = f"{base_url.rstrip('/')}{AVATARS_PATH}{image.name}"
            return await self._store.update_user(user.id, {"avatar_url": url}, self._clock())
        finally:
            self._in_flight[user.id] -= 1
            if self._in_flight[user.id] <= 0:
                del self._in_flight[user.id]

    async def load(self, name: str) -> AvatarImage | None:
        return await self._storage.load(name)

    async def aclose(self) -> None:
        """Stop the decoding workers (pending uploads are refused)."""
        await self.decoders.aclose()


async def referenced_avatars(store: Store) -> set[str]:
    """The names of the stored avatars that some user's ``avatar_url`` points at."""
    urls = await store.avatar_urls(AVATARS_PATH)
    return {url.rsplit(AVATARS_PATH, 1)[1] for url in urls}
