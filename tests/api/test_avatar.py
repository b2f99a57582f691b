"""POST /v1/me/avatar and GET /v1/avatars/{name}, with real images made by Pillow."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image, ImageCms
from typer.testing import CliRunner, Result

from tests.bombs import png_bomb, scan_bomb
from tests.conftest import FakeClock, Harness, bearer, close_harness, open_harness
from wxauth.cli import app
from wxauth.config import Settings
from wxauth.core.avatar import Avatars
from wxauth.simulator import SimulatorState
from wxauth.storage.avatars import LocalAvatarStorage


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={"avatar_dir": tmp_path / "avatars", "avatar_max_bytes": 256 * 1024}
    )


def image_bytes(fmt: str, size: tuple[int, int] = (200, 120), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    color = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    Image.new(mode, size, color).save(out, fmt)
    return out.getvalue()


async def upload(
    harness: Harness, token: str, data: bytes, name: str = "tmp.png"
) -> httpx.Response:
    files = {"file": (name, data, "application/octet-stream")}
    return await harness.api.post(
        "/v1/me/avatar", files=files, data={"kind": "avatar"}, headers=bearer(token)
    )


@pytest.mark.parametrize(
    ("fmt", "mode", "expected"),
    [
        ("PNG", "RGB", "image/jpeg"),
        ("JPEG", "RGB", "image/jpeg"),
        ("WEBP", "RGB", "image/jpeg"),
        ("PNG", "RGBA", "image/png"),
    ],
)
async def test_real_image_is_stored_and_served(
    harness: Harness, settings: Settings, fmt: str, mode: str, expected: str
) -> None:
    token = (await harness.login("alice"))["token"]
    response = await upload(harness, token, image_bytes(fmt, mode=mode))
    assert response.status_code == 200, response.text
    url = response.json()["avatar_url"]
    assert url.startswith("http://wxauth.test/v1/avatars/")
    me = (await harness.api.get("/v1/me", headers=bearer(token))).json()
    assert me["avatar_url"] == url
    served = await harness.api.get(url.removeprefix("http://wxauth.test"))
    assert served.status_code == 200
    assert served.headers["content-type"] == expected
    assert "immutable" in served.headers["cache-control"]
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (200, 120)
    assert any(settings.avatar_dir.rglob("*.*"))


async def test_large_image_is_scaled_down_and_metadata_dropped(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # camera maker
    Image.new("RGB", (2000, 1000), (1, 2, 3)).save(out, "JPEG", exif=exif)
    response = await upload(harness, token, out.getvalue(), "big.jpg")
    assert response.status_code == 200, response.text
    url = response.json()["avatar_url"]
    served = await harness.api.get(url.removeprefix("http://wxauth.test"))
    image = Image.open(io.BytesIO(served.content))
    assert image.size == (640, 320)
    assert b"SecretCam" not in served.content


async def test_orientation_is_applied(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    picture = Image.new("RGB", (1600, 800), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 800, 800))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; rotate 90° clockwise to view
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    response = await upload(harness, token, out.getvalue(), "turned.jpg")
    assert response.status_code == 200, response.text
    served = await harness.api.get(response.json()["avatar_url"].removeprefix("http://wxauth.test"))
    image = Image.open(io.BytesIO(served.content)).convert("RGB")
    assert image.size == (320, 640)  # upright, and scaled into 640 x 640
    top, bottom = image.getpixel((160, 100)), image.getpixel((160, 540))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red on top, blue below


@pytest.mark.parametrize(
    "data",
    [
        b"this is not an image at all",
        b"GIF89a" + b"\x00" * 100,
        image_bytes("GIF"),
        image_bytes("BMP"),
        image_bytes("PNG")[:60],  # truncated
        b"",
    ],
)
async def test_non_images_are_refused(harness: Harness, data: bytes) -> None:
    token = (await harness.login("alice"))["token"]
    response = await upload(harness, token, data)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    me = (await harness.api.get("/v1/me", headers=bearer(token))).json()
    assert me["avatar_url"] is None


@pytest.mark.parametrize("size", [(8, 8), (5000, 20)])
async def test_dimensions_outside_limits_are_refused(
    harness: Harness, size: tuple[int, int]
) -> None:
    token = (await harness.login("alice"))["token"]
    response = await upload(harness, token, image_bytes("PNG", size=size))
    assert response.status_code == 400
    assert "pixels" in response.json()["message"]


async def test_oversized_file_is_413(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    noise = io.BytesIO()
    Image.frombytes("RGB", (400, 400), bytes(range(256)) * 1875).save(noise, "PNG")
    big = noise.getvalue() + b"\x00" * (300 * 1024)  # over the 256 KiB limit set above
    response = await upload(harness, token, big)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    huge = b"\x00" * (2 * 1024 * 1024)  # over the request limit: refused before parsing
    response = await upload(harness, token, huge)
    assert response.status_code == 413


async def test_other_paths_keep_the_small_body_limit(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    body = b'{"nickName": "' + b"x" * (100 * 1024) + b'"}'
    response = await harness.api.post(
        "/v1/me/profile",
        content=body,
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_upload_needs_a_token_and_a_file(harness: Harness) -> None:
    files = {"file": ("a.png", image_bytes("PNG"), "image/png")}
    assert (await harness.api.post("/v1/me/avatar", files=files)).status_code == 401
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post("/v1/me/avatar", data={"x": "1"}, headers=bearer(token))
    assert response.status_code == 422


@pytest.mark.parametrize("name", ["nope.png", "..%2F..%2Fetc%2Fpasswd", "a" * 40 + ".gif"])
async def test_unknown_avatar_names_are_404(harness: Harness, name: str) -> None:
    response = await harness.api.get(f"/v1/avatars/{name}")
    assert response.status_code == 404


async def test_prune_deletes_only_old_unreferenced_avatars(
    harness: Harness, settings: Settings
) -> None:
    alice = (await harness.login("alice"))["token"]
    bob = (await harness.login("bob"))["token"]
    red, blue, green = (image_bytes("PNG", size=(64 + i, 64)) for i in range(3))
    shared = (await upload(harness, alice, red)).json()["avatar_url"]
    assert (await upload(harness, bob, red)).json()["avatar_url"] == shared  # one file, two users
    replaced = (await upload(harness, alice, blue)).json()["avatar_url"]
    current = (await upload(harness, alice, green)).json()["avatar_url"]
    files = {p.name: p for p in settings.avatar_dir.rglob("*.jpg")}
    assert len(files) == 3
    day_ago = time.time() - 86_400
    for path in files.values():
        os.utime(path, (day_ago, day_ago))
    leftover = next(iter(files.values())).with_name(".x.jpg.1234abcd.tmp")  # a crash's
    leftover.write_bytes(b"partial")
    os.utime(leftover, (day_ago, day_ago))
    env = {
        "WXAUTH_DATABASE_URL": settings.database_url,
        "WXAUTH_AVATAR_DIR": str(settings.avatar_dir),
        "WXAUTH_CONFIG": "",
    }

    def prune(*args: str) -> Result:
        return CliRunner().invoke(app, ["avatars", "prune", *args], env=env)

    dry = await asyncio.to_thread(prune, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert name_of(replaced) in dry.output and "would delete 1 " in dry.output
    assert len(list(settings.avatar_dir.rglob("*.jpg"))) == 3 and leftover.exists()
    done = await asyncio.to_thread(prune)
    assert done.exit_code == 0, done.output
    assert "deleted 1 unreferenced avatars" in done.output
    assert sorted(p.name for p in settings.avatar_dir.rglob("*.jpg")) == sorted(
        [name_of(shared), name_of(current)]
    )
    assert not leftover.exists()
    for url, status in ((shared, 200), (current, 200), (replaced, 404)):
        served = await harness.api.get(url.removeprefix("http://wxauth.test"))
        assert served.status_code == status, url


async def test_prune_keeps_young_files_and_a_picture_uploaded_again(
    harness: Harness, settings: Settings
) -> None:
    alice = (await harness.login("alice"))["token"]
    red, blue = image_bytes("PNG", size=(70, 64)), image_bytes("PNG", size=(71, 64))
    first = (await upload(harness, alice, red)).json()["avatar_url"]
    await upload(harness, alice, blue)  # red is now unreferenced, but only just
    path = next(p for p in settings.avatar_dir.rglob("*.jpg") if p.name == name_of(first))
    storage = LocalAvatarStorage(settings.avatar_dir)
    assert await storage.prune(set(), grace_s=3600) == []  # all younger than an hour
    day_ago = time.time() - 86_400
    os.utime(path, (day_ago, day_ago))
    assert (await upload(harness, alice, red)).json()["avatar_url"] == first  # in use again
    assert time.time() - path.stat().st_mtime < 60  # its time renewed
    assert await storage.prune(set(), grace_s=3600) == []


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# Metadata ----------------------------------------------------------------------------------

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description GPSLatitude="39.9"/></x:xmpmeta>'


def secret_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # camera maker
    return exif


def jpeg_markers(data: bytes) -> list[int]:
    """The markers before the first scan (where COM, APPn and the rest live)."""
    markers, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return markers


def png_chunks(data: bytes) -> list[bytes]:
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunks.append(kind)
        pos += 12 + length
    return chunks


def with_metadata(fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image = Image.new("RGB", (200, 120), (200, 30, 30))
        image.save(
            out, "JPEG", comment=b"secret comment", icc_profile=SRGB, exif=secret_exif(), xmp=XMP
        )
    elif fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Comment", "secret comment")
        info.add_text("Author", "secret comment", zip=True)
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        image = Image.new("RGBA", (200, 120), (200, 30, 30, 128))
        image.save(out, "PNG", pnginfo=info, icc_profile=SRGB, exif=secret_exif())
    else:
        image = Image.new("RGB", (200, 120), (200, 30, 30))
        image.save(out, "WEBP", icc_profile=SRGB, exif=secret_exif(), xmp=XMP)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
async def test_served_avatar_keeps_no_comment_profile_or_metadata(
    harness: Harness, fmt: str
) -> None:
    upload_data = with_metadata(fmt)
    uploaded = Image.open(io.BytesIO(upload_data))
    assert "icc_profile" in uploaded.info  # the upload does carry them
    token = (await harness.login("alice"))["token"]
    response = await upload(harness, token, upload_data)
    assert response.status_code == 200, response.text
    served = (
        await harness.api.get(response.json()["avatar_url"].removeprefix("http://wxauth.test"))
    ).content
    image = Image.open(io.BytesIO(served))
    for key in ("icc_profile", "comment", "exif", "xmp", "XML:com.adobe.xmp", "Comment", "Author"):
        assert key not in image.info, key
    assert image.getexif() == {}
    for secret in (b"secret comment", b"SecretCam", b"GPSLatitude", SRGB[:64]):
        assert secret not in served
    if image.format == "JPEG":
        markers = jpeg_markers(served)
        assert markers[-1] == 0xDA  # walked up to the scan
        assert 0xFE not in markers  # COM
        assert not {0xE1, 0xE2} & set(markers)  # APP1 (EXIF, XMP), APP2 (ICC)
    else:
        assert image.format == "PNG"
        chunks = png_chunks(served)
        assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
        assert not {b"iCCP", b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"sRGB", b"gAMA"} & set(chunks)


# Bombs, in-process (the workers are real processes) -----------------------------------------


@dataclass
class Served:
    harness: Harness
    avatars: Avatars


@pytest.fixture
async def served(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock
) -> AsyncIterator[Served]:
    harness, api = await open_harness(settings, sim_state, clock)
    yield Served(harness, api.state.wxauth.wiring.avatars)
    await close_harness(harness, api)


async def until_decoding(avatars: Avatars) -> None:
    """Until a worker has started (it is then decoding the upload in flight)."""
    for _ in range(500):
        if avatars.decoders.pids:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no decoding worker started")


async def test_png_bomb_is_refused_before_decoding(served: Served) -> None:
    bomb = png_bomb((4096, 4096))
    assert len(bomb) < 100 * 1024  # decoded: 64 MiB of pixels, and more on the way
    token = (await served.harness.login("alice"))["token"]
    started = time.monotonic()
    response = await upload(served.harness, token, bomb)
    assert time.monotonic() - started < 1.0
    assert response.status_code == 400
    assert "pixels" in response.json()["message"]
    assert served.avatars.decoders.started == 0  # no worker was needed to say no


async def test_scan_bomb_is_refused_before_decoding(served: Served) -> None:
    bomb = scan_bomb((1024, 1024), total=250 * 1024)  # thousands of scans
    token = (await served.harness.login("alice"))["token"]
    response = await upload(served.harness, token, bomb, "bomb.jpg")
    assert response.status_code == 400
    assert "scans" in response.json()["message"]
    assert served.avatars.decoders.started == 0


async def test_decoding_that_overruns_is_killed(served: Served) -> None:
    avatars = served.avatars
    avatars.rules = dataclasses.replace(avatars.rules, max_scans=5000, decode_timeout=0.5)
    bomb = scan_bomb((4096, 3072), scans=1000)  # passes the header checks; ~10 s to decode
    token = (await served.harness.login("alice"))["token"]
    started = time.monotonic()
    upload_task = asyncio.create_task(upload(served.harness, token, bomb, "bomb.jpg"))
    await until_decoding(avatars)
    (pid,) = avatars.decoders.pids
    response = await upload_task
    assert time.monotonic() - started < 5.0
    assert response.status_code == 400
    assert "too long" in response.json()["message"]
    assert avatars.decoders.killed == 1
    for _ in range(200):  # killed, and reaped
        if not psutil.pid_exists(pid):
            break
        await asyncio.sleep(0.01)
    assert not psutil.pid_exists(pid)
    response = await upload(served.harness, token, image_bytes("JPEG"))
    assert response.status_code == 200, response.text  # by a new worker
    assert avatars.decoders.started == 2


async def test_a_second_upload_in_flight_for_one_user_is_429(served: Served) -> None:
    avatars = served.avatars
    avatars.rules = dataclasses.replace(avatars.rules, max_scans=5000, decode_timeout=2.0)
    alice = (await served.harness.login("alice"))["token"]
    bob = (await served.harness.login("bob"))["token"]
    slow = asyncio.create_task(
        upload(served.harness, alice, scan_bomb((4096, 3072), scans=1000), "bomb.jpg")
    )
    await until_decoding(avatars)
    assert not slow.done()
    second = await upload(served.harness, alice, image_bytes("PNG"))
    assert second.status_code == 429
    assert second.json()["error"] == "rate_limited"
    assert int(second.headers["retry-after"]) >= 1
    other = await upload(served.harness, bob, image_bytes("PNG"))  # another user: not limited
    assert other.status_code == 200, other.text
    assert not slow.done()
    assert (await slow).status_code == 400
    again = await upload(served.harness, alice, image_bytes("PNG"))  # done: free again
    assert again.status_code == 200, again.text
