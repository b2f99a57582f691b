"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wxauth.api.deps import StateDep
from wxauth.api.schemas import Health, Readiness
from wxauth.api.state import ApiState

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model_exclude_none=True)
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={200: {"model": Readiness}, 503: {"model": Readiness}},
)
async def readyz(state: StateDep) -> JSONResponse:
    """Ready while the database answers and its schema is at head. Redis trouble is
    reported as ``"redis": "degraded"`` in the body, never as not ready: the service works
    without it (more slowly, and each process then guards login codes on its own), and a
    Redis outage must not take every instance out of the load balancer at once."""
    try:
        await state.wiring.store.ping()
        check = state.wiring.schema_check
        schema = None if check is None else await check.status()
    except Exception as exc:  # any failure of the database means "not ready"
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    problem = None if schema is None else schema.problem()
    if problem:
        log.warning("not ready: %s", problem)
        return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)
    body = {"status": "ok"}
    if state.wiring.redis is not None:
        body["redis"] = await _redis_state(state)
    return JSONResponse(body)


async def _redis_state(state: ApiState) -> str:
    redis, health = state.wiring.redis, state.wiring.redis_health
    if redis is None or not health.usable():
        return "degraded"
    try:
        await health.ask(redis.ping())
    except Exception as exc:  # refused, reset or timed out: Redis is sick, we are not
        health.failed(exc)
        return "degraded"
    health.succeeded()
    return "ok"
