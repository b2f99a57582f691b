"""The operator console, served under ``/console`` when ``WXAUTH_CONSOLE`` is on.

Server-rendered pages (Jinja2, shipped in the package with their style sheet), SVG charts
drawn on the server, no JavaScript, nothing loaded from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from wxauth.api.console import apps
from wxauth.api.console.pages import router
from wxauth.api.console.web import PATH, ConsoleRefused, current, page

STATIC = Path(__file__).with_name("static")


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefused)
    if exc.status == 303:
        return RedirectResponse(exc.message, status_code=303)
    signed = await current(request)
    return page(request, "refused.html", {"message": exc.message}, status=exc.status,
                signed=signed)  # fmt: skip


def install_console(app: FastAPI) -> None:
    app.add_exception_handler(ConsoleRefused, _refused)
    app.include_router(router)
    app.include_router(apps.router)
    app.mount(f"{PATH}/static", StaticFiles(directory=STATIC), name="console-static")
