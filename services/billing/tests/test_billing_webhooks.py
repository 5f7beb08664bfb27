"""Stripe webhooks end to end on the real servers: signature → Kafka → consumer →
entitlement + ledger + events. Each handled type, duplicates, concurrency, ordering, forgery."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from billing_helpers import Billing, signed, stripe_event
from ds_common.testing.kit import eventually

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


def sid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


async def start_checkout(billing: Billing, user_id: str, plan: str, recurring: bool = False) -> str:
    r = await billing.client.post("/payment/create-session", headers=billing.headers(user_id),
                                  json={"plan": plan, "isRecurring": recurring})
    assert r.status_code == 200, r.text
    return r.json()["sessionId"]


def session(session_id: str, user_id: str, plan: str, *, paid: bool = True, mode: str = "payment",
            **extra) -> dict:
    """A Checkout Session as Stripe reports it, with the metadata our create-session put on it."""
    return {"id": session_id, "object": "checkout.session", "mode": mode, "client_reference_id": user_id,
            "payment_status": "paid" if paid else "unpaid", "metadata": {"user_id": user_id, "plan": plan},
            "amount_total": 4900, "currency": "usd", **extra}


async def test_a_paid_checkout_grants_the_plan_once_with_ledger_and_events(billing: Billing) -> None:
    user, _ = await billing.register_user()
    cs = await start_checkout(billing, user, "Pro")
    pi = sid("pi")
    # The learner named a plan only; its 90 days come from the server's catalogue (W9).
    obj = session(cs, user, "Pro", payment_intent=pi)
    r = await billing.webhook("checkout.session.completed", obj)
    assert r.status_code == 200 and r.json() == {"success": True, "duplicate": False}
    doc = await billing.wait_version(user, 1)
    ent = doc["entitlement"]
    assert ent["plan"] == "Pro" and not ent["is_recurring"]
    assert abs(ent["expires_at"] - (billing.clock.now() + 90 * DAY)) < timedelta(minutes=1)
    ledger = await eventually(lambda: billing.ledger(user))
    assert len(ledger) == 1 and ledger[0]["_id"] == f"{user}:1" and ledger[0]["source"] == "stripe"
    assert ledger[0]["before"]["plan"] == "Free" and ledger[0]["after"]["plan"] == "Pro"
    assert ledger[0]["payment"]["days"] == 90 and ledger[0]["actor"].startswith("stripe:evt_")
    # The verify route answers the owner only, and never with another user's profile (W6).
    mine = await billing.client.post(f"/payment/verify-session/{cs}", headers=billing.headers(user))
    assert mine.status_code == 200 and mine.json()["userInfo"]["plan"]["name"] == "Pro"
    assert mine.json()["fulfilled"] is True and mine.json()["status"] in ("paid", "unpaid", "no_payment_required")
    other = await billing.client.post(f"/payment/verify-session/{cs}", headers=billing.headers("someone-else"))
    assert other.status_code == 404 and other.json() == {"error": "Session not found"}


async def test_the_same_event_ten_times_sequentially_and_concurrently_grants_once(billing: Billing) -> None:
    user, _ = await billing.register_user()
    cs1, cs2 = await start_checkout(billing, user, "Basic"), sid("cs")
    body1 = stripe_event("checkout.session.completed", session(cs1, user, "Basic"))
    for _ in range(10):
        assert (await billing.client.post("/payment/webhook", content=body1, headers=signed(body1))).status_code == 200
    # A second session delivered 10x at once.
    body2 = stripe_event("checkout.session.completed", session(cs2, user, "Basic"))
    replies = await asyncio.gather(*(billing.client.post("/payment/webhook", content=body2, headers=signed(body2))
                                     for _ in range(10)))
    assert all(r.status_code == 200 for r in replies)
    assert sum(not r.json()["duplicate"] for r in replies) == 1
    doc = await billing.wait_version(user, 2)
    await asyncio.sleep(1.0)  # give any wrongly queued duplicate time to show up
    doc = await billing.entitlement(user)
    assert doc["version"] == 2 and len(doc["account"]["grants"]) == 2
    assert abs(doc["entitlement"]["expires_at"] - (billing.clock.now() + 60 * DAY)) < timedelta(minutes=1)
    assert len(await eventually(lambda: billing.ledger(user))) == 2
    # Re-delivered after fulfilment: reported as a duplicate, published again and skipped.
    again = await billing.client.post("/payment/webhook", content=body1, headers=signed(body1))
    assert again.json() == {"success": True, "duplicate": True}
    await asyncio.sleep(1.0)
    doc = await billing.entitlement(user)
    assert doc["version"] == 2 and len(doc["account"]["grants"]) == 2


async def test_async_payments_grant_on_success_only(billing: Billing) -> None:
    user, _ = await billing.register_user()
    cs = await start_checkout(billing, user, "Basic")
    pending = await billing.webhook("checkout.session.completed", session(cs, user, "Basic", paid=False),
                                    event_id=sid("evt"))
    assert pending.status_code == 200
    failed_cs = await start_checkout(billing, user, "Premium")
    failed_id = sid("evt")
    await billing.webhook("checkout.session.async_payment_failed", session(failed_cs, user, "Premium", paid=False),
                          event_id=failed_id)
    await billing.wait_fulfilled(failed_id)
    assert (await billing.db.checkouts.find_one({"_id": failed_cs}))["status"] == "failed"
    assert await billing.entitlement(user) is None
    await billing.webhook("checkout.session.async_payment_succeeded", session(cs, user, "Basic", paid=True))
    doc = await billing.wait_version(user, 1)
    assert doc["entitlement"]["plan"] == "Basic"


async def test_a_subscription_lifecycle_invoice_cancel_and_deletion(billing: Billing) -> None:
    user, _ = await billing.register_user()
    cs, sub = await start_checkout(billing, user, "Pro", recurring=True), sid("sub")
    await billing.webhook("checkout.session.completed", session(cs, user, "Pro", mode="subscription",
                                                                      subscription=sub))
    doc = await billing.wait_version(user, 1)
    assert doc["entitlement"]["is_recurring"] and doc["entitlement"]["plan"] == "Pro"
    # A renewal moves the period forward and records a payment.
    renewal_end = int((datetime.now(UTC) + 120 * DAY).timestamp())
    invoice = {"id": sid("in"), "object": "invoice", "amount_paid": 4900, "currency": "usd",
               "billing_reason": "subscription_cycle",
               "parent": {"subscription_details": {"subscription": sub, "metadata": {"user_id": user}}},
               "lines": {"data": [{"period": {"start": renewal_end - 30 * 86400, "end": renewal_end}}]}}
    await billing.webhook("invoice.paid", invoice)
    doc = await billing.wait_version(user, 2)
    assert doc["entitlement"]["next_payment_at"] == datetime.fromtimestamp(renewal_end, UTC)
    ledger = await eventually(lambda: billing.ledger(user))
    assert ledger[-1]["payment"]["provider_ref"] == invoice["id"] and ledger[-1]["payment"]["days"] == 30
    # The learner cancels: Stripe (stripe-mock) is told, the plan shows "cancelled" right away.
    r = await billing.client.post("/payment/cancel-subscription", headers=billing.headers(user))
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["status"] == "cancelled" and r.json()["plan"]["isRecurring"] is False
    assert r.json()["plan"]["expireTime"] == renewal_end * 1000
    again = await billing.client.post("/payment/cancel-subscription", headers=billing.headers(user))
    assert again.status_code == 404 and again.json() == {"error": "No active recurring subscription found"}
    # Stripe ends it: the plan is gone.
    deleted = {"id": sub, "object": "subscription", "status": "canceled", "metadata": {"user_id": user, "plan": "Pro"},
               "ended_at": int(time.time()), "cancel_at_period_end": True}
    await billing.webhook("customer.subscription.deleted", deleted)
    doc = await billing.wait_version(user, 4)
    assert doc["entitlement"]["plan"] == "Free" and doc["entitlement"]["status"] == "expired"


async def test_out_of_order_subscription_events_reach_the_right_final_state(billing: Billing) -> None:
    user, _ = await billing.register_user()
    sub, now = sid("sub"), int(time.time()) - 120  # Stripe's timestamps are in the past when we see them
    p1, p2 = now + 30 * 86400, now + 60 * 86400

    def subscription(status: str, period_end: int, cancel: bool = False) -> dict:
        return {"id": sub, "object": "subscription", "status": status, "cancel_at_period_end": cancel,
                "metadata": {"user_id": user, "plan": "Premium"},
                "items": {"data": [{"current_period_end": period_end}]}}

    # Stripe sent: created (incomplete) → updated (active) → updated (renewed, later cancel_at_period_end)
    # but they arrive newest first.
    newest = sid("evt")
    await billing.webhook("customer.subscription.updated", subscription("active", p2, cancel=True),
                          created=now + 20, event_id=newest)
    await billing.webhook("customer.subscription.updated", subscription("active", p1), created=now + 10)
    await billing.webhook("customer.subscription.created", subscription("incomplete", p1), created=now)
    doc = await billing.wait_version(user, 1)
    await eventually(lambda: billing.db.stripe_events.count_documents({"type": {"$regex": "^customer.subscription"},
                                                                     "_id": {"$in": [newest]}}))
    await asyncio.sleep(0.5)
    doc = await billing.entitlement(user)
    (stored,) = doc["account"]["subscriptions"]
    assert stored["status"] == "active" and stored["cancel_at_period_end"] is True
    assert stored["period_end"] == datetime.fromtimestamp(p2, UTC)
    assert doc["entitlement"]["plan"] == "Premium" and doc["entitlement"]["status"] == "cancelled"
    # A deletion, then a stale "active" update delivered late: stays cancelled.
    await billing.webhook("customer.subscription.deleted", {**subscription("canceled", p2), "ended_at": now + 40},
                          created=now + 40)
    await billing.webhook("customer.subscription.updated", subscription("active", p2), created=now + 30)
    await eventually(lambda: billing.db.stripe_events.count_documents({"type": "customer.subscription.updated",
                                                                     "created": datetime.fromtimestamp(now + 30, UTC)}))
    doc = await billing.entitlement(user)
    assert doc["account"]["subscriptions"][0]["status"] == "canceled" and doc["entitlement"]["plan"] == "Free"


async def test_a_full_refund_revokes_the_purchase(billing: Billing) -> None:
    user, _ = await billing.register_user()
    cs, pi = await start_checkout(billing, user, "Premium"), sid("pi")
    await billing.webhook("checkout.session.completed", session(cs, user, "Premium", payment_intent=pi))
    await billing.wait_version(user, 1)
    charge = {"id": sid("ch"), "object": "charge", "payment_intent": pi, "amount": 8900, "amount_refunded": 8900,
              "refunded": True, "currency": "usd"}
    partial = {**charge, "id": sid("ch"), "amount_refunded": 100, "refunded": False}
    partial_evt = sid("evt")
    await billing.webhook("charge.refunded", partial, event_id=partial_evt)
    assert (await billing.wait_fulfilled(partial_evt))["outcome"] == "ignored: partial refund"
    await billing.webhook("charge.refunded", charge)
    doc = await billing.wait_version(user, 2)
    assert doc["entitlement"]["plan"] == "Free"
    ledger = await eventually(lambda: billing.ledger(user))
    assert ledger[-1]["source"] == "refund" and ledger[-1]["before"]["plan"] == "Premium"


async def test_forged_stale_or_unsigned_webhooks_are_refused(billing: Billing) -> None:
    body = stripe_event("checkout.session.completed", session(sid("cs"), "u-x", "Basic"))
    forged = await billing.client.post("/payment/webhook", content=body, headers=signed(body, secret="whsec_wrong"))
    assert forged.status_code == 400 and forged.json() == {"error": "Invalid signature"}
    stale = await billing.client.post("/payment/webhook", content=body,
                                      headers=signed(body, timestamp=int(time.time()) - 600))
    assert stale.status_code == 400 and stale.json() == {"error": "Invalid signature"}
    unsigned = await billing.client.post("/payment/webhook", content=body)
    assert unsigned.status_code == 400
    tampered = body.replace('"paid"', '"unpaid"')
    assert (await billing.client.post("/payment/webhook", content=tampered, headers=signed(body))).status_code == 400
    for garbage in ("not json", '{"a":' + "[" * 5_000 + "]" * 5_000 + "}"):  # signed, yet no event
        refused = await billing.client.post("/payment/webhook", content=garbage, headers=signed(garbage))
        assert refused.status_code == 400 and refused.json() == {"error": "Invalid payload"}
    unreadable = stripe_event("charge.refunded", {"object": "charge"})  # signed, allowed, but no id
    dropped = await billing.client.post("/payment/webhook", content=unreadable, headers=signed(unreadable))
    assert dropped.status_code == 200 and dropped.json() == {"success": True, "ignored": True}
    other = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    ignored = await billing.client.post("/payment/webhook", content=other, headers=signed(other))
    assert ignored.status_code == 200 and ignored.json() == {"success": True, "ignored": True}
    assert await billing.db.stripe_events.count_documents({"type": "customer.created"}) == 0


async def test_a_webhook_kafka_does_not_take_is_a_503_so_stripe_retries_it(billing: Billing) -> None:
    user, _ = await billing.register_user()
    cs = await start_checkout(billing, user, "Basic")
    inbox = billing.client._transport.app.state.ctx.inbox  # type: ignore[attr-defined]

    class Unreachable:
        async def publish(self, events: object) -> None:
            raise ConnectionError("no broker")

    working, inbox.publisher = inbox.publisher, Unreachable()
    event_id = sid("evt")
    try:
        refused = await billing.webhook("checkout.session.completed", session(cs, user, "Basic"), event_id=event_id)
    finally:
        inbox.publisher = working
    assert refused.status_code == 503 and refused.json() == {"error": "Event could not be stored, please retry"}
    # Stripe's retry is accepted as new (the refused attempt did not count) and fulfilled.
    retried = await billing.webhook("checkout.session.completed", session(cs, user, "Basic"), event_id=event_id)
    assert retried.json() == {"success": True, "duplicate": False}
    await billing.wait_fulfilled(event_id)
    assert (await billing.entitlement(user))["entitlement"]["plan"] == "Basic"
