"""Optional OpenTelemetry tracing: with SSO_OTEL_ENDPOINT set (an OTLP/HTTP collector, e.g.
http://otel-collector:4318/v1/traces) and the `otel` extra installed, every request becomes a span."""

from __future__ import annotations

import logging
from typing import Any

from app.settings import Settings

log = logging.getLogger(__name__)


def setup_tracing(app: Any, settings: Settings) -> bool:
    if not settings.otel_endpoint:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("SSO_OTEL_ENDPOINT is set but OpenTelemetry is not installed: pip install 'sso-broker[otel]'")
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint),
                                                   schedule_delay_millis=500))
    app.add_middleware(OpenTelemetryMiddleware, tracer_provider=provider)
    app.state.tracer_provider = provider
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)
    return True
