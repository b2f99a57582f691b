"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wxauth.api.deps import StateDep
from wxauth.api.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": Health}})
async def readyz(state: StateDep) -> JSONResponse:
    """The database answers (and Redis, when one is configured)."""
    try:
        await state.wiring.store.ping()
        if state.wiring.redis is not None:
            await state.wiring.redis.ping()
    except Exception as exc:  # any failure of the database means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
