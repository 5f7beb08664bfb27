"""The entitlement rules, with a controllable clock (no I/O): stacking, tiers, expiry, refunds,
admin changes, subscriptions, and events folded in any order."""

import itertools
from datetime import UTC, datetime, timedelta

from ds_billing.domain import codes, stripe_facts
from ds_billing.domain.entitlement import RENEWAL_GRACE, Account, SubscriptionUpdate, effective, legacy_plan
from ds_billing.domain.plans import plan_for_days
from ds_common.clock import FixedClock, to_ms

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def grant(account: Account, gid: str, plan: str, days: int, now: datetime) -> Account:
    return account.grant(grant_id=gid, plan=plan, days=days, now=now, source="stripe")


def test_a_first_purchase_runs_from_now() -> None:
    e = grant(Account(), "g1", "Basic", 30, T0).entitlement(T0)
    assert (e.plan, e.status, e.expires_at, e.is_recurring) == ("Basic", "active", T0 + 30 * DAY, False)


def test_a_purchase_stacks_on_remaining_time_and_keeps_the_higher_tier() -> None:
    clock = FixedClock(T0)
    account = grant(Account(), "g1", "Premium", 180, clock.now())
    clock.advance(80 * DAY)  # 100 days left
    account = grant(account, "g2", "Basic", 30, clock.now())
    e = account.entitlement(clock.now())
    # Legacy W11 turned this into "Basic for 30 days"; here nothing paid for is lost.
    assert e.plan == "Premium" and e.expires_at == clock.now() + 130 * DAY


def test_a_higher_tier_upgrades_the_whole_running_chain() -> None:
    account = grant(Account(), "g1", "Basic", 30, T0)
    account = grant(account, "g2", "Pro", 90, T0 + 20 * DAY)
    e = account.entitlement(T0 + 20 * DAY)
    assert e.plan == "Pro" and e.expires_at == T0 + 120 * DAY


def test_a_lapsed_chain_does_not_lend_its_tier_to_the_next_purchase() -> None:
    account = grant(Account(), "g1", "Premium", 30, T0)
    later = T0 + 40 * DAY
    account = grant(account, "g2", "Basic", 30, later)
    e = account.entitlement(later)
    assert e.plan == "Basic" and e.expires_at == later + 30 * DAY


def test_expiry_is_evaluated_at_read_time() -> None:
    clock = FixedClock(T0)
    account = grant(Account(), "g1", "Pro", 90, T0)
    snapshot = account.entitlement(clock.now())
    clock.advance(90 * DAY)
    assert account.entitlement(clock.now()).plan == "Free"
    assert account.entitlement(clock.now()).status == "expired"
    assert effective(snapshot, clock.now()).plan == "Free"  # a stored snapshot expires on its own too
    assert effective(snapshot, clock.now() - timedelta(seconds=1)).plan == "Pro"
    assert legacy_plan(account.entitlement(clock.now())) == {"name": "Free", "expireTime": None,
                                                             "isRecurring": False, "status": "expired"}


def test_a_refund_revokes_its_grant_and_later_grants_move_earlier() -> None:
    account = grant(Account(), "g1", "Basic", 30, T0)
    account = grant(account, "g2", "Pro", 90, T0 + DAY)  # stacked: Pro until T0 + 120 days
    refunded = account.revoke("g1", T0 + 2 * DAY)
    assert refunded is not None
    e = refunded.entitlement(T0 + 2 * DAY)
    assert e.plan == "Pro" and e.expires_at == T0 + DAY + 90 * DAY
    assert refunded.revoke("g1", T0 + 3 * DAY) is None  # a second refund of it changes nothing
    only = grant(Account(), "g1", "Basic", 30, T0).revoke("g1", T0 + DAY)
    assert only is not None and only.entitlement(T0 + DAY).plan == "Free"


def test_an_admin_change_replaces_instead_of_stacking() -> None:
    account = grant(Account(), "g1", "Premium", 180, T0)
    account = account.set_plan(grant_id="a1", plan="Basic", days=10, now=T0 + DAY)
    e = account.entitlement(T0 + DAY)
    assert e.plan == "Basic" and e.expires_at == T0 + 11 * DAY
    account = account.set_plan(grant_id="a2", plan="Free", days=0, now=T0 + 2 * DAY)
    assert account.entitlement(T0 + 2 * DAY).plan == "Free"
    # A purchase after an admin reset starts a fresh chain.
    account = grant(account, "g2", "Pro", 90, T0 + 3 * DAY)
    assert account.entitlement(T0 + 3 * DAY).expires_at == T0 + 93 * DAY


def sub_update(at: datetime, **fields) -> SubscriptionUpdate:
    return SubscriptionUpdate(id="sub_1", observed_at=at, **fields)


def test_a_subscription_renews_cancels_and_ends() -> None:
    end = T0 + 30 * DAY
    account = Account().update_subscription(sub_update(T0, plan="Pro", status="active", period_end=end))
    e = account.entitlement(T0)
    assert (e.plan, e.is_recurring, e.next_payment_at, e.expires_at) == ("Pro", True, end, end + RENEWAL_GRACE)
    assert legacy_plan(e) == {"name": "Pro", "expireTime": None, "nextPaymentTime": to_ms(end),
                              "isRecurring": True, "status": "active"}
    account = account.update_subscription(sub_update(T0 + DAY, status="active", cancel_at_period_end=True))
    e = account.entitlement(T0 + DAY)
    assert (e.status, e.cancel_at_period_end, e.is_recurring, e.expires_at) == ("cancelled", True, False, end)
    account = account.update_subscription(sub_update(end, status="canceled", ended_at=end))
    assert account.entitlement(end).plan == "Free"


def test_time_bought_during_a_subscription_starts_after_its_period() -> None:
    end = T0 + 30 * DAY
    account = Account().update_subscription(sub_update(T0, plan="Basic", status="active", period_end=end))
    account = grant(account, "g1", "Premium", 180, T0 + DAY)
    e = account.entitlement(T0 + DAY)
    assert e.plan == "Premium" and e.expires_at == end + 180 * DAY


def test_subscription_events_give_one_final_state_in_any_order() -> None:
    p1, p2 = T0 + 30 * DAY, T0 + 60 * DAY
    events = [
        sub_update(T0, plan="Basic", status="incomplete", period_end=p1),
        sub_update(T0 + timedelta(seconds=5), status="active", period_end=p1),
        sub_update(T0 + 30 * DAY, period_end=p2),  # an invoice: states a period, no status
        sub_update(T0 + 31 * DAY, status="active", cancel_at_period_end=True, period_end=p2),
    ]
    finals = set()
    for order in itertools.permutations(events):
        account = Account()
        for update in order:
            account = account.update_subscription(update)
        finals.add(account.subscriptions)
    assert len(finals) == 1
    (sub,) = finals.pop()
    assert (sub.status, sub.cancel_at_period_end, sub.period_end, sub.plan) == ("active", True, p2, "Basic")


def test_a_cancelled_subscription_is_never_revived_by_a_late_event() -> None:
    account = Account().update_subscription(sub_update(T0 + 10 * DAY, plan="Pro", status="canceled",
                                                       ended_at=T0 + 10 * DAY, period_end=T0 + 30 * DAY))
    account = account.update_subscription(sub_update(T0 + 20 * DAY, status="active", period_end=T0 + 60 * DAY))
    assert account.subscriptions[0].status == "canceled"
    assert account.entitlement(T0 + 11 * DAY).plan == "Free"


def test_stripe_objects_in_old_and_new_api_shapes() -> None:
    created = T0
    new_sub = {"id": "sub_1", "object": "subscription", "status": "active", "cancel_at_period_end": False,
               "metadata": {"user_id": "u1", "plan": "Pro"},
               "items": {"data": [{"current_period_end": int((T0 + 30 * DAY).timestamp())}]}}
    old_sub = {"id": "sub_1", "object": "subscription", "status": "active", "cancel_at_period_end": "true",
               "current_period_end": int((T0 + 30 * DAY).timestamp()), "metadata": {}}
    for obj in (new_sub, old_sub):
        fact = stripe_facts.read("customer.subscription.updated", created, obj)
        assert isinstance(fact, stripe_facts.SubscriptionFact)
        assert fact.update.period_end == T0 + 30 * DAY and fact.update.status == "active"
    assert stripe_facts.read("customer.subscription.updated", created, old_sub).update.cancel_at_period_end is None
    deleted = stripe_facts.read("customer.subscription.deleted", created, {**new_sub, "ended_at": 0})
    assert deleted.update.status == "canceled" and deleted.update.ended_at == created
    new_invoice = {"id": "in_1", "amount_paid": 4900, "currency": "usd",
                   "parent": {"subscription_details": {"subscription": "sub_1", "metadata": {"user_id": "u1"}}},
                   "lines": {"data": [{"period": {"start": 1, "end": int((T0 + 30 * DAY).timestamp())}}]}}
    old_invoice = {"id": "in_1", "subscription": "sub_1", "lines": {"data": []}}
    assert stripe_facts.read("invoice.paid", created, new_invoice).subscription_id == "sub_1"
    assert stripe_facts.read("invoice.paid", created, new_invoice).user_id == "u1"
    assert stripe_facts.read("invoice.paid", created, old_invoice).subscription_id == "sub_1"
    assert stripe_facts.routing_key(new_invoice) == "sub_1" == stripe_facts.routing_key(new_sub)
    session = {"id": "cs_1", "payment_status": "unpaid", "mode": "payment", "metadata": {"plan": "Gold"}}
    fact = stripe_facts.read("checkout.session.completed", created, session)
    assert not fact.paid and fact.plan is None  # unknown plan names are dropped, never trusted
    assert stripe_facts.read("checkout.session.async_payment_succeeded", created, session).paid
    for each in (fact, deleted, stripe_facts.read("invoice.paid", created, new_invoice),
                 stripe_facts.read("charge.refunded", created, {"id": "ch_1", "payment_intent": "pi_1", "amount": 5,
                                                                "amount_refunded": 5})):
        assert stripe_facts.from_data(stripe_facts.to_data(each)) == each  # the wake-up event's payload


def test_code_tags_are_hmacs_under_the_server_key() -> None:
    key = b"k1"
    random_part, code = codes.new_code(key)
    assert codes.check(key, code.upper()) == random_part
    for bad in ("nonsense", "abc-def", f"{random_part}-{random_part[:8]}-x"):
        try:
            codes.check(key, bad)
            raise AssertionError(bad)
        except codes.InvalidFormat:
            pass
    try:
        codes.check(b"another key", code)
        raise AssertionError("a code signed with another key was accepted")
    except codes.InvalidTag:
        pass


def test_plan_names_from_days_follow_the_legacy_mapping() -> None:
    assert [plan_for_days(d) for d in (30, 59, 60, 89, 90, 36500, -1, 0)] == [
        "Basic", "Basic", "Pro", "Pro", "Premium", "Premium", "Premium", "Free"]
