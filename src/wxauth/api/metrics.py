"""Prometheus metrics: requests by route and status, and their latency, at GET /metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """One registry per app, so several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "wxauth_http_requests",
            "HTTP requests answered.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "wxauth_http_request_seconds",
            "Time to answer, by route.",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def router(self) -> APIRouter:
        router = APIRouter(tags=["health"])

        @router.get("/metrics", response_class=Response)
        async def metrics() -> Response:
            """Prometheus text format."""
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return router


class MetricsMiddleware:
    """Counts each request under its route template (``/v1/me``), never its raw path."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - start)
