"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wxauth.api.deps import StateDep
from wxauth.api.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model_exclude_none=True)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": Health}})
async def readyz(state: StateDep) -> JSONResponse:
    """The database answers and its schema is at head (and Redis answers, when configured)."""
    try:
        await state.wiring.store.ping()
        check = state.wiring.schema_check
        schema = None if check is None else await check.status()
        if state.wiring.redis is not None:
            await state.wiring.redis.ping()
    except Exception as exc:  # any failure of the database means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    problem = None if schema is None else schema.problem()
    if problem:
        log.warning("not ready: %s", problem)
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ok"})
