"""POST /v1/me/avatar and GET /v1/avatars/{name}, with real images made by Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import Harness, bearer
from wxauth.config import Settings


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
