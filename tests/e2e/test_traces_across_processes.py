"""One trace per request across processes (ds_common.tracing): a client's `traceparent` is
continued by the API behind the gateway, crosses the outbox or the journal with the event it caused,
and every consumer's handling of that event is a span of the same trace, seconds later."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import bearer, poll, sign_in, stripe_webhook

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import seed
import system

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP span kinds


def traced() -> tuple[str, str, dict[str, str]]:
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return trace_id, parent, {"traceparent": f"00-{trace_id}-{parent}-01"}


def spans_showing(system_: Any, trace_id: str, wanted: set[tuple[str, str, int]]) -> list[Any]:
    """The trace's spans once it holds every (service, name, kind) wanted."""
    def check() -> list[Any] | None:
        spans = system_.traces.of_trace(trace_id)
        return spans if wanted <= {(s.service, s.name, s.kind) for s in spans} else None
    return poll(check, within_s=20, what=f"spans {wanted} in trace {trace_id}")


def test_a_sign_in_is_one_trace_from_the_gateway_through_the_outbox_to_every_consumer(whole_system: Any) -> None:
    trace_id, client_span, headers = traced()
    email = f"traced-{uuid.uuid4().hex[:8]}@e2e.test"
    with httpx.Client(base_url=whole_system.gateway, timeout=10, headers=headers) as client:
        sign_in(client, whole_system, email, "Traced")  # a new account: user.registered, by auth's outbox
    spans = spans_showing(whole_system, trace_id, {
        ("auth-api", "POST /auth/login", SERVER),
        ("auth-relay", "user.registered publish", PRODUCER),
        ("progress-consumer", "user.registered process", CONSUMER),
        ("billing-consumer", "user.registered process", CONSUMER),
    })
    server = next(s for s in spans if s.name == "POST /auth/login" and s.kind == SERVER)
    assert server.parent_span_id == client_span  # the client's trace, continued through the gateway
    assert any(s.service == "auth-api" and s.kind == CLIENT and s.parent_span_id for s in spans)  # its store calls
    by_id = {s.span_id: s for s in spans}
    publish = next(s for s in spans if s.name == "user.registered publish")
    consumed = next(s for s in spans if s.service == "progress-consumer" and s.name == "user.registered process")
    assert consumed.parent_span_id in by_id  # a child of the send, under the publish span
    assert by_id[consumed.parent_span_id].parent_span_id == publish.span_id


def test_a_save_is_one_trace_through_the_journal_to_the_statistics(whole_system: Any) -> None:
    seed.main(whole_system.gateway, system.operator_env("test"))  # the demo catalogue (idempotent)
    with httpx.Client(base_url=whole_system.gateway, timeout=10) as client:
        me = sign_in(client, whole_system, f"saver-{uuid.uuid4().hex[:8]}@e2e.test", "Saver")
        video = {"channelId": "demo-stories", "videoId": "aaaaaaaaaa1"}
        poll(lambda: client.post("/user/register_dictation", json=video,  # once progress knows the catalogue
                                 headers=bearer(me["access"])).status_code == 200, within_s=10, what="registered")
        time.sleep(1.1)  # the one second of practice the save claims has passed since sign-up
        trace_id, _, headers = traced()
        r = client.post("/user/progress", headers={**bearer(me["access"]), **headers},
                        json={**video, "userInput": {"0": "traced"}, "currentTime": 1000, "overallCompletion": 5,
                              "duration": 1})
        assert r.status_code == 200, r.text
    spans_showing(whole_system, trace_id, {
        ("progress-api", "POST /user/progress", SERVER),
        ("progress-consumer", "practice.recorded publish", PRODUCER),  # the journal compactor
        ("progress-consumer", "practice.recorded process", CONSUMER),  # the statistics projection
    })


def test_a_purchase_is_one_trace_from_the_webhook_to_the_plan_in_auth_and_progress(whole_system: Any) -> None:
    with httpx.Client(base_url=whole_system.gateway, timeout=10) as client:
        me = sign_in(client, whole_system, f"buyer-{uuid.uuid4().hex[:8]}@e2e.test", "Buyer")
        trace_id, client_span, headers = traced()
        client.headers.update(headers)
        r = stripe_webhook(client, whole_system.webhook_secret, "checkout.session.completed", {
            "id": f"cs_test_{uuid.uuid4().hex[:16]}", "object": "checkout.session", "mode": "payment",
            "payment_status": "paid", "client_reference_id": me["user"]["user_id"],
            "metadata": {"user_id": me["user"]["user_id"], "plan": "Pro"},
            "amount_total": 4900, "currency": "cny", "payment_intent": f"pi_{uuid.uuid4().hex[:16]}"})
        assert r.status_code == 200, r.text
    spans = spans_showing(whole_system, trace_id, {
        ("billing-api", "POST /payment/webhook", SERVER),
        ("billing-api", "billing.stripe_event_received publish", PRODUCER),  # the webhook hands over to Kafka
        ("billing-consumer", "billing.stripe_event_received process", CONSUMER),  # the grant
        ("billing-relay", "plan.changed publish", PRODUCER),  # from the outbox, after the grant
        ("auth-consumer", "plan.changed process", CONSUMER),
        ("progress-consumer", "plan.changed process", CONSUMER),
    })
    assert next(s for s in spans if s.kind == SERVER).parent_span_id == client_span
    logs = system.processes("test")[0].state / "logs"

    def logged() -> bool:  # the grant's log line (billing logs at INFO in this run) names the trace
        return any(trace_id in line and "checkout.session.completed" in line
                   for path in logs.glob("billing-consumer*.log") for line in path.read_text().splitlines())
    poll(logged, within_s=5, what="the grant's log line with the trace id")
