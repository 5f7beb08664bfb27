"""What a Stripe event means for billing, read from the Stripe object alone (no I/O).

Handles both the older and the current API shapes (e.g. a subscription's period end moved from
the subscription to its items in 2025; an invoice's subscription moved under `parent`). Times
become aware UTC datetimes; booleans are parsed, never string-compared (legacy W14).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from ds_common.events.contracts import PlanName
from pydantic import TypeAdapter

from ds_billing.domain.entitlement import SubscriptionUpdate
from ds_billing.domain.plans import PAID_PLANS

ALLOWED_TYPES = frozenset({
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "invoice.paid",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "charge.refunded",
})

Obj = Mapping[str, Any]


def ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int | float) and value > 0 else None


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _id(value: Any) -> str | None:
    """A Stripe reference is an id string or an expanded object with an `id`."""
    if isinstance(value, str) and value:
        return value
    return _id(value.get("id")) if isinstance(value, Mapping) else None


def _plan(metadata: Any) -> PlanName | None:
    plan = _get(metadata, "plan")
    return cast(PlanName, plan) if plan in PAID_PLANS else None


@dataclass(frozen=True)
class CheckoutFact:
    session_id: str
    paid: bool  # payment_status "paid" or "no_payment_required"
    failed: bool
    mode: str  # "payment" | "subscription"
    user_id: str | None
    plan: PlanName | None
    subscription_id: str | None
    payment_intent: str | None
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class InvoiceFact:
    invoice_id: str
    subscription_id: str | None
    user_id: str | None
    plan: PlanName | None
    period_start: datetime | None
    period_end: datetime | None
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class SubscriptionFact:
    user_id: str | None
    update: SubscriptionUpdate


@dataclass(frozen=True)
class RefundFact:
    charge_id: str
    payment_intent: str | None
    invoice_id: str | None
    full: bool
    amount_refunded: int
    currency: str


Fact = CheckoutFact | InvoiceFact | SubscriptionFact | RefundFact
_KINDS: dict[str, type[Any]] = {"checkout": CheckoutFact, "invoice": InvoiceFact, "subscription": SubscriptionFact,
                                "refund": RefundFact}


# Built once: building a TypeAdapter generates its schema (a third of a webhook request's CPU).
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {cls: TypeAdapter(cls) for cls in _KINDS.values()}


def to_data(fact: Fact) -> dict[str, Any]:
    """A fact as JSON-ready data (what travels in billing's wake-up event; no Stripe PII)."""
    kind = next(k for k, cls in _KINDS.items() if isinstance(fact, cls))
    return {"kind": kind, **_ADAPTERS[type(fact)].dump_python(fact, mode="json")}


def from_data(data: Mapping[str, Any]) -> Fact:
    fields = {k: v for k, v in data.items() if k != "kind"}
    fact: Fact = _ADAPTERS[_KINDS[str(data["kind"])]].validate_python(fields)
    return fact


def read(stripe_type: str, created: datetime, obj: Obj) -> Fact:
    if stripe_type.startswith("checkout.session."):
        return checkout(stripe_type, obj)
    if stripe_type == "invoice.paid":
        return invoice(obj)
    if stripe_type.startswith("customer.subscription."):
        return subscription(stripe_type, created, obj)
    if stripe_type == "charge.refunded":
        return refund(obj)
    raise ValueError(f"unsupported Stripe event type {stripe_type}")


def checkout(stripe_type: str, obj: Obj) -> CheckoutFact:
    status = obj.get("payment_status")
    failed = stripe_type == "checkout.session.async_payment_failed"
    paid = not failed and (stripe_type == "checkout.session.async_payment_succeeded"
                           or status in ("paid", "no_payment_required"))
    return CheckoutFact(
        session_id=str(obj["id"]), paid=paid, failed=failed, mode=str(obj.get("mode") or "payment"),
        user_id=_id(obj.get("client_reference_id")) or _id(_get(obj, "metadata", "user_id")),
        plan=_plan(obj.get("metadata")), subscription_id=_id(obj.get("subscription")),
        payment_intent=_id(obj.get("payment_intent")), amount_minor=int(obj.get("amount_total") or 0),
        currency=str(obj.get("currency") or ""))


def invoice(obj: Obj) -> InvoiceFact:
    details = _get(obj, "parent", "subscription_details") or obj.get("subscription_details") or {}
    line = next(iter(_get(obj, "lines", "data") or ()), None)
    period = _get(line, "period") or {}
    return InvoiceFact(
        invoice_id=str(obj["id"]),
        subscription_id=_id(details.get("subscription")) or _id(obj.get("subscription")),
        user_id=_id(_get(details, "metadata", "user_id")), plan=_plan(details.get("metadata")),
        period_start=ts(period.get("start")), period_end=ts(period.get("end")),
        amount_minor=int(obj.get("amount_paid") or 0), currency=str(obj.get("currency") or ""))


def subscription(stripe_type: str, created: datetime, obj: Obj) -> SubscriptionFact:
    item = next(iter(_get(obj, "items", "data") or ()), None)
    period_end = ts(obj.get("current_period_end")) or ts(_get(item, "current_period_end"))
    deleted = stripe_type == "customer.subscription.deleted"
    status = "canceled" if deleted else str(obj.get("status") or "") or None
    ended = (ts(obj.get("ended_at")) or ts(obj.get("canceled_at"))) if status == "canceled" else None
    cancel = obj.get("cancel_at_period_end")
    return SubscriptionFact(
        user_id=_id(_get(obj, "metadata", "user_id")),
        update=SubscriptionUpdate(
            id=str(obj["id"]), observed_at=created, plan=_plan(obj.get("metadata")),
            status=status, cancel_at_period_end=cancel if isinstance(cancel, bool) else None,
            period_end=period_end, ended_at=(ended or created) if status == "canceled" else None))


def refund(obj: Obj) -> RefundFact:
    amount, refunded = int(obj.get("amount") or 0), int(obj.get("amount_refunded") or 0)
    return RefundFact(
        charge_id=str(obj["id"]), payment_intent=_id(obj.get("payment_intent")),
        invoice_id=_id(obj.get("invoice")), full=obj.get("refunded") is True or (amount > 0 and refunded >= amount),
        amount_refunded=refunded, currency=str(obj.get("currency") or ""))


def routing_key(obj: Obj) -> str:
    """Kafka key of the internal event: one subscription's events stay in order on one partition."""
    sub = _id(_get(obj, "parent", "subscription_details", "subscription")) or _id(obj.get("subscription"))
    if obj.get("object") == "subscription":
        sub = _id(obj.get("id"))
    return sub or _id(obj.get("id")) or "stripe"
