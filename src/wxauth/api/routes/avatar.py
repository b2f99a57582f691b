"""POST /v1/me/avatar (what wx.uploadFile sends) and GET /v1/avatars/{name}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile

from wxauth.api.deps import SignedInUser
from wxauth.api.schemas import ErrorBody, UserPublic
from wxauth.api.state import api_state
from wxauth.core.avatar import Avatars
from wxauth.errors import NotFound, PayloadTooLarge

router = APIRouter(tags=["user"])

# Multipart framing and wx.uploadFile's formData ride along with the file itself.
MULTIPART_OVERHEAD = 64 * 1024


async def get_avatars(request: Request) -> Avatars:
    return api_state(request).wiring.avatars


AvatarsDep = Annotated[Avatars, Depends(get_avatars)]


@router.post(
    "/v1/me/avatar",
    responses={
        400: {"model": ErrorBody, "description": "not a PNG, JPEG or WebP image"},
        401: {"model": ErrorBody, "description": "invalid_token"},
        413: {"model": ErrorBody, "description": "payload_too_large"},
        429: {
            "model": ErrorBody,
            "description": "rate_limited (Retry-After): per token, failed token checks per "
            "address, an upload of this user's still in flight, or the server busy decoding",
        },
    },
)
async def upload_avatar(
    request: Request,
    user: SignedInUser,
    avatars: AvatarsDep,
    file: Annotated[UploadFile, File(description="The image (wx.uploadFile's name: 'file').")],
) -> UserPublic:
    """Check, re-encode and store the image; the user's ``avatar_url`` then points at it."""
    data = await file.read(avatars.rules.max_bytes + 1)
    if len(data) > avatars.rules.max_bytes:
        raise PayloadTooLarge(f"The avatar is larger than {avatars.rules.max_bytes} bytes.")
    base_url = api_state(request).settings.public_url or str(request.base_url)
    return UserPublic.of(await avatars.upload(user, data, base_url=base_url))


@router.get("/v1/avatars/{name}", response_class=Response, responses={404: {"model": ErrorBody}})
async def read_avatar(name: str, avatars: AvatarsDep) -> Response:
    """A stored avatar. Names derive from the content, so they can be cached forever."""
    image = await avatars.load(name)
    if image is None:
        raise NotFound("No such avatar.")
    return Response(
        image.data,
        media_type=image.content_type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
