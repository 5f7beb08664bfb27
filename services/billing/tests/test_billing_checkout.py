"""Stripe Checkout against stripe-mock through the official library: server-side plans and prices
(W9), deterministic idempotency keys, and what a learner may send."""

from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from billing_helpers import Billing

pytestmark = pytest.mark.integration


async def test_checkout_sessions_use_server_side_prices_and_deterministic_idempotency_keys(billing: Billing) -> None:
    sent: list[tuple[str, dict]] = []

    async def record(request) -> None:
        sent.append((request.headers.get("idempotency-key", ""), dict(request.url.params) | _form(request)))

    stripe_http = billing.api.state.ctx.provider._http._client_async
    stripe_http.event_hooks = {"request": [record], "response": []}
    # Start the double click at the beginning of an idempotency window, so both clicks fall in it.
    window_s = billing.settings.checkout_idempotency_window_s
    billing.clock.advance(timedelta(seconds=window_s - billing.clock.now().timestamp() % window_s + 1))
    try:
        user, email = await billing.register_user()
        headers = billing.headers(user)
        first = await billing.client.post("/payment/create-session", headers=headers,
                                          json={"plan": "Premium", "duration": 180, "isRecurring": False})
        again = await billing.client.post("/payment/create-session", headers=headers, json={"plan": "Premium"})
        monthly = await billing.client.post("/payment/create-session", headers=headers,
                                            json={"plan": "Basic", "isRecurring": True})
    finally:
        stripe_http.event_hooks = {"request": [], "response": []}
    assert [r.status_code for r in (first, again, monthly)] == [200, 200, 200]
    assert first.json()["sessionId"].startswith("cs_") and first.json()["url"].startswith("https://")
    (key1, form1), (key2, _), (key3, form3) = sent
    assert key1 == key2 and key1.startswith(f"checkout-{user}-Premium-payment-")  # a double click: one session
    assert key3 != key1 and "-Basic-subscription-" in key3
    assert form1["line_items[0][price]"] == billing.settings.plans["Premium"].stripe_price_one_time
    assert form1["mode"] == "payment" and form1["client_reference_id"] == user
    assert form1["customer_email"] == email and form1["metadata[plan]"] == "Premium"
    # The front end's success page reads the session id from `session_id` (legacy W29).
    assert form1["success_url"].endswith("?session_id={CHECKOUT_SESSION_ID}")
    assert form3["mode"] == "subscription" and form3["subscription_data[metadata][user_id]"] == user
    stored = await billing.db.checkouts.find_one({"_id": first.json()["sessionId"]})
    assert stored["user_id"] == user and stored["days"] == 180 and stored["plan"] == "Premium"


def _form(request) -> dict:
    return dict(parse_qsl(request.content.decode())) if request.content else {}


async def test_learners_cannot_choose_duration_or_unknown_plans(billing: Billing) -> None:
    headers = billing.headers("learner-co")
    cases = [({"plan": "Basic", "duration": 36500}, "Invalid duration for Basic plan. Expected 30 days"),
             ({"plan": "Gold"}, "Invalid plan selected"),
             ({"plan": "Basic", "price": 1}, None),
             ({"plan": "Basic", "isRecurring": "sometimes"}, None)]
    for body, message in cases:
        r = await billing.client.post("/payment/create-session", headers=headers, json=body)
        assert r.status_code == 400, body
        assert "error" in r.json() and (message is None or r.json()["error"] == message)
    assert (await billing.client.post("/payment/create-session", json={"plan": "Basic"})).status_code == 401
    bad_id = await billing.client.post("/payment/verify-session/..%2Fx", headers=headers)
    assert bad_id.status_code in (400, 404) and "error" in bad_id.json()
    unknown = await billing.client.post("/payment/verify-session/cs_unknown", headers=headers)
    assert unknown.status_code == 404 and unknown.json() == {"error": "Session not found"}
    none = await billing.client.post("/payment/cancel-subscription", headers=headers)
    assert none.status_code == 404 and none.json() == {"error": "No active recurring subscription found"}
