"""Entry point for ``uvicorn --factory`` (``wxauth serve``): settings from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from wxauth.api.app import create_app
from wxauth.config import Settings


def app_from_environment() -> FastAPI:
    return create_app(Settings())
