"""Pictures made to be expensive: small files that cost a decoder much time or memory."""

from __future__ import annotations

import io

from PIL import Image


def progressive_jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 80, 200)).save(out, "JPEG", progressive=True, quality=90)
    return out.getvalue()


def scan_bomb(
    size: tuple[int, int] = (4096, 3072), *, scans: int | None = None, total: int | None = None
) -> bytes:
    """A progressive JPEG whose last (tiny) scan is repeated: each repeat is another pass of
    the decoder over the whole picture. ``scans`` of them in all, or as many as fit ``total``
    bytes."""
    data = progressive_jpeg(size)
    last = data.rfind(b"\xff\xda")
    head, scan = data[:last], data[last:-2]  # up to the last SOS; its scan, without EOI
    present = data.count(b"\xff\xda")
    if scans is not None:
        repeats = scans - present + 1
    else:
        assert total is not None
        repeats = (total - len(head) - 2) // len(scan)
    return head + scan * repeats + b"\xff\xd9"


def png_bomb(size: tuple[int, int] = (4096, 4096)) -> bytes:
    """One colour over many pixels: a few KB that decode to hundreds of MB."""
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 30, 255)).save(out, "PNG", optimize=True)
    return out.getvalue()
