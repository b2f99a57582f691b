"""Prometheus metrics at GET /metrics: requests by route and status, and their latency;
webhook delivery attempts by result, and the outbox's depth and age (as this process last
saw them)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
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
        self.webhook_attempts = Counter(
            "wxauth_webhook_deliveries",
            "Webhook delivery attempts, by result (delivered, retry, dead).",
            ["result"],
            registry=self.registry,
        )
        self.webhook_pending = Gauge(
            "wxauth_webhook_queue_depth",
            "Webhook deliveries pending.",
            registry=self.registry,
        )
        self.webhook_oldest = Gauge(
            "wxauth_webhook_queue_oldest_seconds",
            "Age of the oldest pending webhook delivery.",
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def answered(self, template: str, status: int, seconds: float) -> None:
        """Count one answer of the route ``template`` and observe its latency. The
        labelled children are kept (a route's templates and statuses are few): looking
        them up by labels takes a lock and a validation each time."""
        children = self._children.get((template, status))
        if children is None:
            children = (self.requests.labels(template, str(status)), self.latency.labels(template))
            self._children[(template, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    # -- the webhook worker's observer (wxauth.core.webhook_worker.DeliveryObserver) ------

    def attempted(self, result: str) -> None:
        self.webhook_attempts.labels(result).inc()

    def queue(self, pending: int, oldest_age_s: float) -> None:
        self.webhook_pending.set(pending)
        self.webhook_oldest.set(oldest_age_s)

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
            self.metrics.answered(template, status, time.perf_counter() - start)
