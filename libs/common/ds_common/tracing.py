"""OpenTelemetry traces: one trace per request across every process it reaches, through the
outbox and Kafka to each consumer's effect.

- HTTP: the FastAPI instrumentation starts a server span per request, continuing the caller's W3C
  `traceparent` (the gateway passes it on; without one the API starts the trace). Store and Redis
  calls are child spans (the PyMongo and redis instrumentations).
- Events: `new_event` stores the context current when the event is written (the request's, or the
  consumer's handling of the event that caused it) in the envelope's `traceparent`, so it crosses
  the outbox with the event. The publisher sends each event inside a `<topic> publish` span, a
  child of that context, and the aiokafka instrumentation puts its send span's context in the
  record's headers. A consumer handles each event inside a `<topic> process` span, a child of the
  context the record carries (a batch: one span per record, plus the batch's span linking them).
  So one trace shows request -> outbox -> Kafka -> every consumer's effect, however much later.
- Logs carry `trace_id` and `span_id` (ds_common.logging); metrics stay Prometheus.

Tracing is on when `DS_OTEL_ENDPOINT` names an OTLP/HTTP receiver (Jaeger's :4318, a collector).
New traces are sampled at `DS_TRACE_SAMPLE_RATIO`; a caller's sampling decision is followed
(parent-based). Off (no endpoint), nothing is instrumented and the request path costs nothing;
consumers still pass on a context that an event already carries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Link, Span, SpanKind

ROLE_ENV = "DS_PROCESS_ROLE"  # set by ds_common.service.run: api, relay, consumer
_enabled = False

tracer = trace.get_tracer("dictation-studio")


def setup_tracing(service: str, *, endpoint: str, sample_ratio: float) -> bool:
    """Install the tracer provider, its OTLP exporter and the library instrumentations, once per
    process; returns whether tracing is on."""
    global _enabled
    if _enabled or not endpoint:
        return _enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    role = os.environ.get(ROLE_ENV, "")
    resource = Resource.create({"service.name": f"{service}-{role}" if role else service,
                                "service.namespace": "dictation-studio"})
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces", timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter))  # off the request path, in batches
    # An unreachable receiver must not flood the logs: the exporter's own errors are dropped.
    logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter").setLevel(logging.CRITICAL)
    trace.set_tracer_provider(provider)
    PymongoInstrumentor().instrument()
    RedisInstrumentor().instrument()
    AIOKafkaInstrumentor().instrument()
    _enabled = True
    return True


def instrument_app(app: Any) -> None:
    """A server span per request (the probes and metrics scrapes excepted)."""
    if _enabled:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="livez,readyz,metrics,healthz",
                                           exclude_spans=["receive", "send"])


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (None outside any)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str | None, headers: Sequence[tuple[str, bytes]] | None = ()) -> context.Context | None:
    """The context a message carries: its Kafka headers' (the producer's send span), else its
    envelope's `traceparent` (where the event was written); None: it carries none."""
    carrier = {k: v.decode("latin-1") for k, v in headers or () if k in ("traceparent", "tracestate")}
    if "traceparent" not in carrier and traceparent:
        carrier["traceparent"] = traceparent
    return propagate.extract(carrier) if carrier else None


@contextmanager
def span_in(name: str, parent: context.Context | None, *, kind: SpanKind,
            attributes: Mapping[str, Any] | None = None,
            links: Sequence[context.Context | None] = ()) -> Iterator[Span]:
    """A span that is a child of `parent` (None: a new trace), current inside the block."""
    span_links = [Link(sc) for c in links if c is not None
                  and (sc := trace.get_current_span(c).get_span_context()).is_valid]
    with tracer.start_as_current_span(name, context=parent or context.Context(), kind=kind,
                                      attributes=dict(attributes or {}), links=span_links) as span:
        yield span


def log_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span, for a log line (empty outside any)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
