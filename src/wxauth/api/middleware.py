"""Pure-ASGI middleware: request ids, body size limits, and a last-resort 500."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wxauth.errors import PayloadTooLarge
from wxauth.wire import error_body

log = logging.getLogger(__name__)


class RequestContext:
    """Gives each request an id (``X-Request-ID``), enforces the body limit, and turns any
    unexpected exception into a plain 500 ``internal_error`` without a stack trace."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = dict(path_limits or {})  # larger limits for uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        refused = False  # a 413 went out: whatever the app still sends is dropped

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        limit = self.path_limits.get(scope["path"], self.max_body_bytes)
        if _declared_length(scope) > limit:
            await _send_error(send_with_id, PayloadTooLarge(), request_id)
            return
        received = 0

        async def limited_receive() -> Message:
            # A body sent without Content-Length (chunked) is counted as it arrives; the
            # framework may swallow an exception raised here, so the 413 is sent from here.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not started:
                    await _send_error(send_with_id, PayloadTooLarge(), request_id)
                    refused = True
                    raise PayloadTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except PayloadTooLarge:
            if not refused:
                raise
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                error = error_body("internal_error", "Internal error.", request_id)
                await _send_json(send_with_id, 500, error)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _send_error(send: Send, error: PayloadTooLarge, request_id: str) -> None:
    await _send_json(send, error.status, error_body(error.code, error.message, request_id))


async def _send_json(send: Send, status: int, body: dict[str, object]) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
