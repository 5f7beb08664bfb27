"""Trace context without an exporter (ds_common.tracing): what a process continues, its logs and
the events it writes carry the caller's trace."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
from ds_common.events.contracts import UserRegistered
from ds_common.events.envelope import new_event
from ds_common.logging import JsonFormatter
from ds_common.tracing import ServerSpans, context_of, current_traceparent, log_ids, span_in
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_outside_any_span_nothing_is_carried() -> None:
    assert log_ids() == {} and current_traceparent() is None and context_of(None, []) is None


def test_a_log_line_and_an_event_written_in_a_callers_trace_carry_it() -> None:
    with span_in("work", context_of(CALLER), kind=SpanKind.INTERNAL):
        line = orjson.loads(JsonFormatter("svc").format(logging.makeLogRecord({"msg": "hello"})))
        event = new_event(UserRegistered(user_id="u1", email="a@b.test", username="a", created_at=datetime.now(UTC)),
                          key="u1", sequence=1)
    assert line["trace_id"] == TRACE and len(line["span_id"]) == 16
    assert event.traceparent is not None and event.traceparent.split("-")[1] == TRACE


def test_a_records_headers_win_over_the_envelopes_context() -> None:
    other = "0af7651916cd43dd8448eb211c80319c"
    headers = [("traceparent", f"00-{other}-b7ad6b7169203331-01".encode()), ("type", b"x")]
    with span_in("process", context_of(CALLER, headers), kind=SpanKind.CONSUMER):
        assert log_ids()["trace_id"] == other
    with span_in("process", context_of(CALLER, []), kind=SpanKind.CONSUMER):
        assert log_ids()["trace_id"] == TRACE


async def test_a_request_not_sampled_pays_for_no_store_or_redis_spans_and_passes_its_context_on() -> None:
    """Under a request that is not sampled (here: its caller's decision), the library
    instrumentations are suppressed (no span per store or Redis call), while the request's
    context, unsampled, still travels on to the events it writes."""
    seen: list[tuple[bool, str | None]] = []

    async def app(scope, receive, send) -> None:
        seen.append((is_instrumentation_enabled(), current_traceparent()))

    unsampled = f"00-{TRACE}-00f067aa0ba902b7-00"
    await ServerSpans(app)({"type": "http", "path": "/user/progress", "method": "POST",
                            "headers": [(b"traceparent", unsampled.encode())]}, None, None)
    assert seen == [(False, unsampled)]
    assert is_instrumentation_enabled()  # only inside the request
