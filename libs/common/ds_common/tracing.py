"""OpenTelemetry traces: one trace per request across every process it reaches, through the
outbox and Kafka to each consumer's effect.

- HTTP: `ServerSpans` starts a server span per request, continuing the caller's W3C
  `traceparent` (the gateway passes it on; without one the API starts the trace). Store and Redis calls are
  child spans (the PyMongo and redis instrumentations).
- Only sampled work pays: a request or event handling that is not sampled runs with the library
  instrumentations suppressed (no span objects, no attribute formatting per store or Redis call),
  and still passes its (unsampled) context on, so the processes after it follow its decision.
  Measured (`make bench-tracing`): the ASGI instrumentation and per-call wrappers cost ~40 % of
  throughput even with nothing sampled, on routes whose own Python path is ~0.25 ms.
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

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context, propagate, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Receive, Scope, Send

from ds_common.asgi import StatusRecorder

ROLE_ENV = "DS_PROCESS_ROLE"  # set by ds_common.service.run: api, relay, consumer
_enabled = False

tracer = trace.get_tracer("dictation-studio")


def setup_tracing(service: str, *, endpoint: str, sample_ratio: float) -> bool:
    """Install the tracer provider, its OTLP exporter and the library instrumentations, once per
    process; returns whether tracing is on."""
    global _enabled, tracer
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
    tracer = provider.get_tracer("dictation-studio")  # not the proxy: one indirection less per span
    PymongoInstrumentor().instrument()
    RedisInstrumentor().instrument()
    AIOKafkaInstrumentor().instrument()
    # Store and Redis calls outside any sampled span (background loops: lease renewals, the
    # revocation follower's XREAD, index creation) would each start a one-span trace of their own:
    # the process starts suppressed, and each sampled span turns the instrumentations back on.
    context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    _enabled = True
    return True


def fastapi_telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry support stays off: `ServerSpans` makes the server spans. Measured
    with py-spy under load, FastAPI's took ~17 % of an API process's CPU with nothing sampled (its
    attributes, query-string parsing and send wrapper come before the sampler decides)."""
    return {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def instrument_app(app: Any) -> None:
    if _enabled:
        app.add_middleware(ServerSpans)


class ServerSpans:
    """The server span of each HTTP request, a child of the caller's `traceparent` if it sent one
    (the probes and metrics scrapes excepted). A request that is not sampled costs one
    non-recording span and runs with the store and Redis instrumentations suppressed; a sampled
    one gets its attributes, and its route as its name, when it ends."""

    UNTRACED = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.UNTRACED:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        parent = propagate.extract(carrier) if carrier else context.Context()
        span = tracer.start_span(scope["method"], context=parent, kind=SpanKind.SERVER)
        token = context.attach(_context_of_span(span))
        try:
            if span.is_recording():
                await self._recorded(span, scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            context.detach(token)

    async def _recorded(self, span: Span, scope: Scope, receive: Receive, send: Send) -> None:
        response = StatusRecorder(send)
        try:
            await self.app(scope, receive, response)
        except Exception as exc:
            span.record_exception(exc)
            raise
        finally:
            route = getattr(scope.get("route"), "path", None)
            span.update_name(f"{scope['method']} {route}" if route else scope["method"])
            span.set_attributes({"http.request.method": scope["method"], "url.path": scope["path"],
                                 "http.response.status_code": response.status,
                                 **({"http.route": route} if route else {})})
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()


def _context_of_span(span: Span) -> context.Context:
    """The context with `span` current and the library instrumentations suppressed unless it is
    sampled (its context still travels on, unsampled; a sampled record's span inside an unsampled
    batch span is instrumented again). One context to attach: this runs on every request."""
    ctx = trace.set_span_in_context(span)
    # The key suppress_instrumentation() sets, without its two extra context switches.
    return context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, not span.is_recording(), ctx)


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
    span = tracer.start_span(name, context=parent or context.Context(), kind=kind,
                             attributes=dict(attributes or {}), links=span_links)
    token = context.attach(_context_of_span(span))
    try:
        yield span
    except Exception as exc:
        if span.is_recording():
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR))
        raise
    finally:
        context.detach(token)
        span.end()


def log_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span, for a log line (empty outside any)."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}
