"""Entry point for ``uvicorn --factory`` (``wxauth serve``): settings from the environment.

Once the app is built, the process's garbage collector is set for a server
(:func:`wxauth.collector.settle`): what lives as long as the process is frozen, and the
young generations are collected less often.
"""

from __future__ import annotations

from fastapi import FastAPI

from wxauth import collector
from wxauth.api.app import create_app
from wxauth.config import Settings


def app_from_environment() -> FastAPI:
    app = create_app(Settings())
    collector.settle()
    return app
