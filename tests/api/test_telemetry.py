"""FastAPI's own OpenTelemetry: off unless ``WXAUTH_OPENTELEMETRY`` turns it on, and then
spans through the global tracer provider, never logs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import bearer, close_harness, open_harness
from wxauth.config import Settings
from wxauth.simulator import SimulatorState

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> Iterator[None]:
    """The process's global tracer provider (it can be set once per process)."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(tracer_provider)
    yield
    tracer_provider.shutdown()


@pytest.mark.parametrize("on", [False, True])
async def test_spans_only_when_the_setting_asks(
    settings: Settings, sim_state: SimulatorState, on: bool
) -> None:
    EXPORTER.clear()
    harness, app = await open_harness(settings.model_copy(update={"opentelemetry": on}), sim_state)
    try:
        token = (await harness.login("alice"))["token"]
        assert (await harness.api.get("/v1/me", headers=bearer(token))).status_code == 200
    finally:
        await close_harness(harness, app)
    spans = EXPORTER.get_finished_spans()
    routes = {span.attributes.get("http.route") for span in spans if span.attributes}
    if not on:
        assert spans == ()
        return
    assert {"/v1/login", "/v1/me"} <= routes
    exported = repr([(span.name, dict(span.attributes or {})) for span in spans])
    assert token not in exported
