"""Billing's use cases on fakes (no servers): the entitlement store on in-memory versioned documents
(one grant per operation id, the ledger, the events), membership codes and admin plan changes,
cancellation, ZPay orders and notifies, and the rules the routes used to hold."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from ds_billing.adapters.entitlements import AccountChange, EntitlementStore, Payment, entitlement_store
from ds_billing.adapters.users import normalize_email
from ds_billing.adapters.zpay import ZPayProvider
from ds_billing.domain import codes, zpay
from ds_billing.domain.entitlement import Account, NoRenewingSubscription, SubscriptionUpdate, effective
from ds_billing.domain.plans import (
    PERMANENT_DAYS,
    PlanOrDurationRequired,
    UnknownPlan,
    WrongDuration,
    admin_change,
    offer_for,
)
from ds_billing.service.membership import Membership
from ds_billing.service.zpay import ZPayPayments
from ds_billing.settings import DEFAULT_PLANS
from ds_common.clock import FixedClock
from ds_common.errors import AppError, DomainError, ServiceUnavailable
from ds_common.events.contracts import Entitlement, paid_until
from ds_common.events.memory import InMemoryBus
from ds_common.mongo import Document
from ds_common.testing.kit import InMemoryDocuments

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
KEY = b"unit-test-code-key"
ZPAY_KEY = "unit-test-zpay-key"


# --- fakes ---------------------------------------------------------------------------------------------
class MemoryLedger:
    def __init__(self) -> None:
        self.entries: dict[str, Document] = {}

    async def record(self, entries: Iterable[Document]) -> None:
        for entry in entries:
            self.entries.setdefault(entry["_id"], dict(entry))


class MemoryCodes:
    """adapters.codes.Codes in memory: the same claim rule (domain.codes.after_lost_claim)."""

    def __init__(self, clock: FixedClock) -> None:
        self.key = KEY
        self.clock = clock
        self.docs: dict[str, Document] = {}

    async def create(self, *, days: int, plan: str, created_by: str, custom: bool) -> tuple[str, Document]:
        random_part, code = codes.new_code(self.key)
        doc = {"_id": random_part, "days": days, "plan": plan, "state": "active", "created_by": created_by,
               "expires_at": self.clock.now() + timedelta(hours=1)}
        self.docs[random_part] = doc
        return code, doc

    async def claim(self, random_part: str, user_id: str) -> Document:
        doc, now = self.docs.get(random_part), self.clock.now()
        if doc is not None and doc["state"] == "active" and doc["expires_at"] > now:
            doc.update(state="claimed", claimed_by=user_id)
            return doc
        return dict(codes.after_lost_claim(doc, user_id, now))

    async def mark_redeemed(self, random_part: str, user_id: str, actor: str) -> None:
        doc = self.docs[random_part]
        if doc["state"] == "claimed" and doc["claimed_by"] == user_id:
            doc.update(state="redeemed", redeemed_by=actor)

    async def list_active(self) -> list[dict[str, Any]]:
        return [d for d in self.docs.values() if d["state"] == "active"]


class MemoryUsers:
    def __init__(self, **emails: str) -> None:
        self.ids = {normalize_email(email): user_id for user_id, email in emails.items()}

    async def id_for_email(self, email: str) -> str | None:
        return self.ids.get(normalize_email(email))

    async def email_of(self, user_id: str) -> str | None:
        return next((e for e, u in self.ids.items() if u == user_id), None)


class MemoryAudit:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def record(self, actor: str, action: str, **details: Any) -> None:
        self.records.append({"actor": actor, "action": action, **details})


class FakeStripe:
    name = "stripe"

    def __init__(self) -> None:
        self.cancelled: list[tuple[str, str]] = []

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None:
        self.cancelled.append((subscription_id, idempotency_key))


class MemoryOrders:
    """adapters.zpay_orders.ZPayOrders in memory."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}

    async def add(self, order: Document) -> None:
        self.docs[order["_id"]] = dict(order)

    async def get(self, order_id: str) -> Document | None:
        return dict(self.docs[order_id]) if order_id in self.docs else None

    async def of_user(self, user_id: str, limit: int) -> list[Document]:
        return [dict(o) for o in reversed(self.docs.values()) if o["user_id"] == user_id][:limit]

    async def mark_paid(self, order_id: str, *, trade_no: str, at: datetime, by: str,
                        evidence: dict[str, Any] | None) -> Document | None:
        order = self.docs[order_id]
        if order["status"] != "paid":
            order.update(status="paid", trade_no=trade_no, paid_at=at, confirmed_by=by, notify=evidence)
        return dict(order)

    async def mark_failed(self, order_id: str, *, at: datetime) -> Document | None:
        order = self.docs[order_id]
        if order["status"] == "pending":
            order.update(status="failed", failed_at=at)
            return dict(order)
        return None


class World:
    """The entitlement store on in-memory documents, its events on a bus, its ledger in memory."""

    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.bus = InMemoryBus()
        self.documents = InMemoryDocuments(self.bus)
        self.ledger = MemoryLedger()
        self.store = EntitlementStore(self.documents, self.ledger, self.clock)

    def events(self, user_id: str, event_type: str) -> list[Any]:
        return [e for e in self.bus.of_type(event_type) if e.key == user_id]


@pytest.fixture
def world() -> World:
    return World()


def grant(op: str, plan: Any = "Pro", days: int = 90, payment: bool = True) -> Any:
    def decide(account: Account, now: datetime) -> AccountChange:
        return AccountChange(account.grant(grant_id=op, plan=plan, days=days, now=now, source="stripe"), "grant",
                             Payment("stripe", plan, days, 4900, "usd", "cs_1") if payment else None)
    return decide


# --- the entitlement store ---------------------------------------------------------------------------------
async def test_an_operation_grants_once_with_one_ledger_entry_and_both_events(world: World) -> None:
    first = await world.store.apply("u1", "checkout:cs_1", grant("checkout:cs_1"), source="stripe", actor="stripe:e1",
                                    reason="checkout paid")
    again = await world.store.apply("u1", "checkout:cs_1", grant("checkout:cs_1"), source="stripe", actor="stripe:e2")
    assert (first.applied, first.version, first.entitlement.plan) == (True, 1, "Pro")
    assert first.entitlement.expires_at == T0 + 90 * DAY
    assert (again.applied, again.version, again.entitlement) == (False, 1, first.entitlement)
    doc = world.documents.docs["u1"]
    assert doc["applied"] == ["checkout:cs_1"] and len(doc["account"]["grants"]) == 1
    assert doc["entitlement"]["plan"] == "Pro" and doc["updated_at"] == T0
    [changed] = world.events("u1", "plan.changed")
    [paid] = world.events("u1", "payment.completed")
    assert changed.sequence == paid.sequence == 1 and changed.producer == paid.producer == "billing"
    assert changed.data["source"] == "stripe" and changed.data["entitlement"]["plan"] == "Pro"
    assert paid.data["payment_id"] == "checkout:cs_1" and paid.data["days"] == 90
    assert list(world.ledger.entries) == ["u1:1"]
    entry = world.ledger.entries["u1:1"]
    assert (entry["op"], entry["kind"], entry["actor"], entry["before"]["plan"], entry["after"]["plan"]) == (
        "checkout:cs_1", "grant", "stripe:e1", "Free", "Pro")
    assert doc["_ledger"] == [entry]  # written with the change, copied right after


async def test_versions_are_sequences_and_a_change_without_payment_emits_plan_changed_only(world: World) -> None:
    await world.store.apply("u1", "code:a", grant("code:a", "Basic", 30), source="code", actor="u1")
    world.clock.advance(DAY)
    second = await world.store.apply("u1", "admin:x", grant("admin:x", "Premium", 10, payment=False),
                                     source="admin", actor="admin-1")
    assert second.version == 2 and world.documents.docs["u1"]["version"] == 2
    assert [e.sequence for e in world.events("u1", "plan.changed")] == [1, 2]
    assert [e.sequence for e in world.events("u1", "payment.completed")] == [1]
    assert sorted(world.ledger.entries) == ["u1:1", "u1:2"]


async def test_unrecorded_operations_and_decisions_that_change_nothing_write_nothing(world: World) -> None:
    update = SubscriptionUpdate(id="sub_1", observed_at=T0, plan="Pro", status="active", period_end=T0 + 30 * DAY)

    def fold(account: Account, _: datetime) -> AccountChange:
        return AccountChange(account.update_subscription(update), "subscription")

    first = await world.store.apply("u1", "stripe:evt_1", fold, source="stripe", actor="s", record_op=False)
    same = await world.store.apply("u1", "stripe:evt_2", fold, source="stripe", actor="s", record_op=False)
    none = await world.store.apply("u1", "refund:ch_1", lambda a, now: None, source="refund", actor="s")
    assert first.applied and first.entitlement.is_recurring
    assert not same.applied and not none.applied and none.version == 1
    assert world.documents.docs["u1"]["applied"] == []  # folding a state needs no operation id
    assert len(world.events("u1", "plan.changed")) == 1


async def test_a_ledger_entry_a_dead_writer_left_is_copied_by_the_next_writer(world: World) -> None:
    left = {"_id": "u1:1", "user_id": "u1", "version": 1, "op": "code:dead", "kind": "grant"}
    world.documents.docs["u1"] = {"_id": "u1", "version": 1, "account": {}, "applied": ["code:dead"],
                                  "_ledger": [left]}
    outcome = await world.store.apply("u1", "code:b", grant("code:b"), source="code", actor="u1")
    assert outcome.version == 2 and sorted(world.ledger.entries) == ["u1:1", "u1:2"]


async def test_a_writer_that_keeps_losing_the_race_gives_up_with_a_503() -> None:
    class AlwaysChanged:
        """A collection whose every conditional write finds the version moved on."""

        name = "entitlements"

        async def find_one(self, *args: Any, **kwargs: Any) -> Document:
            return {"_id": "u1", "version": 7, "account": {}, "applied": []}

        async def update_one(self, *args: Any, **kwargs: Any) -> Any:
            return type("Result", (), {"matched_count": 0})()

    store = entitlement_store({"entitlements": AlwaysChanged(), "payments": None}, None, FixedClock(T0))  # type: ignore[arg-type]
    store.ledger = MemoryLedger()
    with pytest.raises(ServiceUnavailable, match="Entitlement is busy, please retry"):
        await store.apply("u1", "code:c", grant("code:c"), source="code", actor="u1")


# --- membership: codes, admin plan changes, cancellation ---------------------------------------------------
def membership(world: World, users: MemoryUsers | None = None) -> tuple[Membership, MemoryCodes, MemoryAudit,
                                                                         FakeStripe]:
    code_store, audit, stripe = MemoryCodes(world.clock), MemoryAudit(), FakeStripe()
    service = Membership(world.store, code_store, users or MemoryUsers(), audit, stripe, world.clock)  # type: ignore[arg-type]
    return service, code_store, audit, stripe


async def test_a_code_is_redeemed_once_and_stacks_on_paid_time(world: World) -> None:
    service, code_store, audit, _ = membership(world)
    code = await service.mint("admin-1", 30, custom=False)
    assert audit.records == [{"actor": "admin-1", "action": "code.generated", "code_part": code.split("-")[0],
                              "days": 30, "plan": "Basic", "custom": False}]
    assert (await service.redeem(code.upper(), "u1")).expires_at == T0 + 30 * DAY
    with pytest.raises(codes.CodeUsed):
        await service.redeem(code, "u2")
    # The learner retrying after a redemption that stopped half-way (claimed, granted, not marked
    # redeemed) finishes it, and is not granted twice.
    code_store.docs[code.split("-")[0]]["state"] = "claimed"
    assert (await service.redeem(code, "u1")).expires_at == T0 + 30 * DAY
    assert code_store.docs[code.split("-")[0]]["state"] == "redeemed"
    with pytest.raises(codes.CodeUsed):
        await service.redeem(code, "u1")
    world.clock.advance(10 * DAY)
    stacked = await service.redeem(await service.mint("admin-1", 90, custom=False), "u1")
    assert stacked.plan == "Premium" and stacked.expires_at == T0 + 120 * DAY
    assert [e.data["provider"] for e in world.events("u1", "payment.completed")] == ["code", "code"]
    random_part, tag = code.split("-")
    with pytest.raises(codes.InvalidTag):
        await service.redeem(f"{random_part}-{'0' * 8 if tag != '0' * 8 else '1' * 8}", "u1")
    with pytest.raises(codes.InvalidFormat):
        await service.redeem("not-a-code", "u1")
    expiring = await service.mint("admin-1", 30, custom=False)
    world.clock.advance(timedelta(hours=2))
    for unknown_or_expired in (expiring, codes.full_code(KEY, "0123456789abcdef")):
        with pytest.raises(codes.CodeNotFound, match="Verification code not found or expired"):
            await service.redeem(unknown_or_expired, "u1")


async def test_an_admin_assigns_codes_by_email_and_unknown_emails_are_refused(world: World) -> None:
    service, _, audit, _ = membership(world, MemoryUsers(u1="Learner@Example.com"))
    code = await service.mint("admin-1", 60, custom=True)
    with pytest.raises(AppError, match=r"User with email nobody@example\.com not found"):
        await service.assign(code, "nobody@example.com", admin_id="admin-1")
    entitlement = await service.assign(code, "learner@example.com", admin_id="admin-1")
    assert entitlement.plan == "Pro"
    assert audit.records[-1] == {"actor": "admin-1", "action": "code.assigned", "code_part": code.split("-")[0],
                                 "user_id": "u1"}
    assert world.ledger.entries["u1:1"]["actor"] == "admin-1"


async def test_an_admin_plan_change_replaces_the_plan_is_audited_and_never_creates_users(world: World) -> None:
    service, _, audit, _ = membership(world, MemoryUsers(u1="a@example.com"))
    await world.store.apply("u1", "checkout:cs_9", grant("checkout:cs_9", "Premium", 180), source="stripe", actor="s")
    plan, days = admin_change(None, 10, DEFAULT_PLANS)
    results = await service.set_plans(["a@example.com", "ghost@example.com", "A@example.com"], plan, days,
                                      admin_id="admin-1")
    assert [(r.email, r.entitlement is not None) for r in results] == [
        ("a@example.com", True), ("ghost@example.com", False), ("A@example.com", True)]
    replaced = results[0].entitlement
    assert replaced is not None and replaced.plan == "Basic" and replaced.expires_at == T0 + 10 * DAY
    assert next(r for r in audit.records if r["action"] == "plan.set") == {
        "actor": "admin-1", "action": "plan.set", "user_id": "u1", "plan": "Basic", "days": 10}
    assert set(world.documents.docs) == {"u1"}  # no ghost (W28)
    changed = world.events("u1", "plan.changed")[-1]
    assert changed.data["source"] == "admin" and changed.data["entitlement"]["plan"] == "Basic"
    assert world.ledger.entries[f"u1:{changed.sequence}"]["kind"] == "admin_set"


async def test_cancelling_asks_stripe_first_then_marks_the_subscription(world: World) -> None:
    service, _, _, stripe = membership(world)
    with pytest.raises(NoRenewingSubscription, match="No active recurring subscription found"):
        await service.cancel_subscription("u1")
    update = SubscriptionUpdate(id="sub_1", observed_at=T0, plan="Pro", status="active", period_end=T0 + 30 * DAY)
    await world.store.apply("u1", "checkout:cs_s", lambda a, _: AccountChange(a.update_subscription(update),
                                                                              "subscription"),
                            source="stripe", actor="s")
    cancelled = await service.cancel_subscription("u1")
    assert stripe.cancelled == [("sub_1", f"cancel-sub_1-{int(T0.timestamp())}")]
    assert (cancelled.status, cancelled.cancel_at_period_end, cancelled.expires_at) == (
        "cancelled", True, T0 + 30 * DAY)
    with pytest.raises(NoRenewingSubscription):
        await service.cancel_subscription("u1")


# --- ZPay -------------------------------------------------------------------------------------------------
@pytest_asyncio.fixture
async def zpay_provider() -> AsyncIterator[ZPayProvider]:
    provider = ZPayProvider(base_url="http://zpay.invalid", pid="1000", key=ZPAY_KEY,
                            notify_url="http://billing.invalid/notify", return_url="http://app.invalid/back")
    yield provider
    await provider.aclose()


def zpay_payments(world: World, provider: ZPayProvider) -> tuple[ZPayPayments, MemoryOrders]:
    orders = MemoryOrders()
    users = MemoryUsers(u1="a@example.com")
    return ZPayPayments(orders, provider, world.store, users, DEFAULT_PLANS, world.clock), orders  # type: ignore[arg-type]


@pytest.mark.parametrize(("plan", "duration", "pay_type", "message"), [
    ("Pro", 90, None, "Plan, duration, and payType are required"),
    ("Pro", None, "alipay", "Plan, duration, and payType are required"),
    ("Gold", 90, "alipay", "Invalid plan selected"),
    ("Pro", 36500, "alipay", "Invalid duration for Pro plan. Expected 90 days"),
    ("Pro", 90, "paypal", "Invalid payment type"),
])
async def test_an_order_names_a_plan_of_the_catalogue(world: World, zpay_provider: ZPayProvider, plan: Any,
                                                      duration: Any, pay_type: Any, message: str) -> None:
    payments, orders = zpay_payments(world, zpay_provider)
    with pytest.raises((AppError, DomainError)) as refused:
        await payments.create_order("u1", plan, duration, pay_type)
    assert refused.value.message == message  # type: ignore[union-attr]
    assert orders.docs == {}


async def test_only_our_merchants_signed_notify_for_the_orders_amount_grants_and_only_once(
        world: World, zpay_provider: ZPayProvider) -> None:
    payments, orders = zpay_payments(world, zpay_provider)
    created = await payments.create_order("u1", "Pro", 90, "wxpay")
    assert created["amount"] == "49.00" and zpay.is_order_id(created["orderId"])
    genuine = {"pid": "1000", "trade_no": "T1", "out_trade_no": created["orderId"], "type": "wxpay", "name": "x",
               "money": "49.00", "trade_status": "TRADE_SUCCESS"}
    refused = [
        {**zpay.signed(genuine, ZPAY_KEY), "sign": "0" * 32},  # a bad signature
        zpay.signed(genuine, "someone else's key"),
        zpay.signed({**genuine, "pid": "9999"}, ZPAY_KEY),  # another merchant
        zpay.signed({**genuine, "money": "0.01"}, ZPAY_KEY),  # not the order's amount
        zpay.signed({**genuine, "out_trade_no": zpay.new_order_id()}, ZPAY_KEY),  # not our order
    ]
    for params in refused:
        assert await payments.notified(params) is False, params
    assert orders.docs[created["orderId"]]["status"] == "pending" and world.events("u1", "plan.changed") == []
    for _ in range(3):
        assert await payments.notified(zpay.signed({**genuine, "money": "49"}, ZPAY_KEY)) is True  # 49 == 49.00
    order = orders.docs[created["orderId"]]
    assert (order["status"], order["trade_no"], order["confirmed_by"]) == ("paid", "T1", "notify")
    [paid] = world.events("u1", "payment.completed")
    assert paid.data["payment_id"] == f"zpay:{created['orderId']}" and paid.data["amount_minor"] == 4900
    assert len(world.events("u1", "plan.changed")) == 1
    status = await payments.status("u1", created["orderId"])
    assert status["status"] == "paid" and status["userInfo"]["plan"]["name"] == "Pro"
    with pytest.raises(AppError, match="Order not found"):
        await payments.status("u2", created["orderId"])


async def test_an_unpaid_notify_fails_the_order_without_a_grant(world: World, zpay_provider: ZPayProvider) -> None:
    payments, orders = zpay_payments(world, zpay_provider)
    created = await payments.create_order("u1", "Basic", 30, "alipay")
    closed = zpay.signed({"pid": "1000", "trade_no": "T2", "out_trade_no": created["orderId"], "money": "19.00",
                          "trade_status": "TRADE_CLOSED"}, ZPAY_KEY)
    assert await payments.notified(closed) is True  # understood: ZPay may stop repeating it
    assert orders.docs[created["orderId"]]["status"] == "failed" and world.events("u1", "plan.changed") == []


# --- rules moved out of the routes ----------------------------------------------------------------------------
def test_the_catalogue_decides_plans_and_days() -> None:
    assert offer_for(DEFAULT_PLANS, "Pro").days == 90
    assert offer_for(DEFAULT_PLANS, "Pro", 90, currency="cny").days == 90
    with pytest.raises(UnknownPlan, match="Invalid plan selected"):
        offer_for(DEFAULT_PLANS, "Gold")
    with pytest.raises(UnknownPlan):
        offer_for(DEFAULT_PLANS, "Pro", currency="usd")
    with pytest.raises(WrongDuration, match=r"Invalid duration for Basic plan\. Expected 30 days"):
        offer_for(DEFAULT_PLANS, "Basic", 36500)


def test_admin_changes_name_the_plan_from_days_and_take_the_plans_own_days() -> None:
    assert admin_change(None, 60, DEFAULT_PLANS) == ("Pro", 60)
    assert admin_change(None, -1, DEFAULT_PLANS) == ("Premium", PERMANENT_DAYS)
    assert admin_change("Basic", 10, DEFAULT_PLANS) == ("Basic", 10)
    assert admin_change("Premium", None, DEFAULT_PLANS) == ("Premium", 180)
    assert admin_change("Free", None, DEFAULT_PLANS) == ("Free", 0)
    with pytest.raises(PlanOrDurationRequired, match="A plan or a duration is required"):
        admin_change(None, None, DEFAULT_PLANS)


def test_read_time_expiry_is_the_shared_plan_rule() -> None:
    cases = [Entitlement(plan="Pro", expires_at=T0 + DAY), Entitlement(plan="Pro", expires_at=T0),
             Entitlement(plan="Premium"), Entitlement(plan="Free"), Entitlement(plan="Basic", status="cancelled",
                                                                                  expires_at=T0 + DAY)]
    for entitlement in cases:
        seen = effective(entitlement, T0)
        assert (seen.plan != "Free") == (paid_until(entitlement, T0) is not None), entitlement
        assert seen == entitlement or seen == Entitlement(plan="Free", status="expired")


def test_a_lost_claim_finishes_the_claimers_redemption_and_refuses_everyone_else() -> None:
    active = {"_id": "c", "state": "active", "expires_at": T0}
    claimed = {"_id": "c", "state": "claimed", "claimed_by": "u1", "expires_at": T0 + DAY}
    assert codes.after_lost_claim(claimed, "u1", T0) == claimed
    for doc, user, error in [(None, "u1", codes.CodeNotFound), (active, "u1", codes.CodeNotFound),
                             (claimed, "u2", codes.CodeUsed), ({**claimed, "state": "redeemed"}, "u1", codes.CodeUsed)]:
        with pytest.raises(error):
            codes.after_lost_claim(doc, user, T0)
