"""Reading a picture's headers without decoding it: format, size, JPEG scans."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from tests.bombs import progressive_jpeg, scan_bomb
from wxauth.core.avatar import AvatarRules, Header, check_header, read_header
from wxauth.errors import InvalidRequest, PayloadTooLarge


def encoded(fmt: str, size: tuple[int, int], mode: str = "RGB", **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (9, 99, 199, 255)[: len(mode)]).save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "LA", {}),
        ("JPEG", "RGB", {}),
        ("JPEG", "L", {}),
        ("JPEG", "CMYK", {}),
        ("WEBP", "RGB", {}),  # VP8
        ("WEBP", "RGB", {"lossless": True}),  # VP8L
        ("WEBP", "RGBA", {}),  # VP8X (alpha)
        ("WEBP", "RGB", {"exif": b"Exif\x00\x00"}),  # VP8X (metadata)
    ],
)
def test_header_size_is_what_pillow_decodes(fmt: str, mode: str, options: dict[str, Any]) -> None:
    data = encoded(fmt, (321, 123), mode, **options)
    header = read_header(data)
    assert header is not None
    assert (header.format, header.width, header.height) == (fmt, 321, 123)
    assert Image.open(io.BytesIO(data)).size == (header.width, header.height)


def test_jpeg_scans_are_counted() -> None:
    assert read_header(encoded("JPEG", (64, 64))) == Header("JPEG", 64, 64, scans=1)
    progressive = progressive_jpeg((64, 64))
    assert read_header(progressive) == Header("JPEG", 64, 64, scans=10)  # libjpeg's script
    assert read_header(scan_bomb((64, 64), scans=50)) == Header("JPEG", 64, 64, scans=50)


def test_scan_counting_stops_past_the_limit() -> None:
    bomb = scan_bomb((64, 64), scans=500)
    header = read_header(bomb, max_scans=20)
    assert header is not None and header.scans == 21  # enough to refuse; not all 500 read


def test_scans_hidden_behind_garbage_and_fill_bytes_are_found() -> None:
    data = progressive_jpeg((64, 64))
    first_sos = data.find(b"\xff\xda")
    # libjpeg skips stray bytes before a marker, and 0xFF fill bytes: so must the count.
    padded = data[:first_sos] + b"\x00junk\xff\xff\xff" + data[first_sos:]
    decoded = Image.open(io.BytesIO(padded))
    decoded.load()  # libjpeg reads past the junk, and decodes every scan
    assert decoded.getpixel((3, 3)) == Image.open(io.BytesIO(data)).getpixel((3, 3))
    header = read_header(padded)
    assert header is not None and header.scans == 10


def test_data_after_the_end_of_the_image_is_not_counted() -> None:
    data = progressive_jpeg((64, 64)) + progressive_jpeg((64, 64))
    header = read_header(data)
    assert header is not None and header.scans == 10


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xd8",
        b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 8,  # a scan before any frame
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDX" + b"\x00" * 8,
        b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20,  # no VP8 start code
        encoded("GIF", (20, 20), "P"),
        encoded("BMP", (20, 20)),
    ],
)
def test_not_our_formats_have_no_header(data: bytes) -> None:
    assert read_header(data) is None


def test_jpeg_with_too_many_segments_has_no_header() -> None:
    data = encoded("JPEG", (32, 32))
    comments = b"\xff\xfe\x00\x03x" * 2000  # tiny COM segments: work for nothing
    assert read_header(data[:2] + comments + data[2:]) is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (encoded("PNG", (4096, 4096)), "pixels"),
        (encoded("PNG", (4097, 16)), "pixels on each side"),
        (encoded("PNG", (15, 100)), "pixels on each side"),
        (scan_bomb((64, 64), scans=65), "more than 64 JPEG scans"),
        (b"GIF89a", "PNG, JPEG or WebP"),
    ],
)
def test_check_header_refusals(data: bytes, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        check_header(data, AvatarRules())


def test_check_header_accepts_within_the_rules_and_limits_size() -> None:
    rules = AvatarRules()
    assert check_header(encoded("PNG", (4096, 3072)), rules).width == 4096
    assert check_header(scan_bomb((64, 64), scans=64), rules).scans == 64
    with pytest.raises(PayloadTooLarge):
        check_header(b"\x00" * (rules.max_bytes + 1), rules)
