"""A user's entitlement, computed in ONE place from what they bought (legacy W11, W13, W14).

State (`Account`) is what happened: one-time grants (Stripe one-time payments, membership codes,
admin changes) and Stripe subscriptions. The entitlement is derived from it at a given instant:
- one-time grants form a chain: a grant stacks on the paid time still running (the chain's end,
  or the end of a running subscription's period) and the chain keeps the highest tier in it;
  once a chain has lapsed, the next grant starts a new one at its own tier;
- an admin plan change replaces the chain (`replace`), it does not stack;
- a refund revokes a grant: the chain is recomputed without it, so later grants move earlier;
- a subscription gives access until its period end (plus a short grace while Stripe renews it),
  or until its period end exactly once it is set to cancel at period end;
- expiry is evaluated at read time: nothing has to run when a plan ends.
Every instant is an aware UTC `datetime`; booleans are booleans.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ds_common.clock import to_ms
from ds_common.errors import DomainError
from ds_common.events.contracts import Entitlement, PlanName

from ds_billing.domain.plans import LEVEL, higher

GrantSource = Literal["stripe", "zpay", "code", "admin"]

RUNNING_STATUSES = frozenset({"active", "trialing", "past_due"})
RENEWAL_GRACE = timedelta(days=2)  # Stripe retries a renewal for a while; don't cut access meanwhile
# An inferred subscription status (from an invoice) loses against any status Stripe stated.
INFERRED = datetime(1970, 1, 1, tzinfo=UTC)


class NoRenewingSubscription(DomainError):
    """There is no subscription left to cancel."""

    def __init__(self) -> None:
        super().__init__("No active recurring subscription found")


@dataclass(frozen=True)
class Grant:
    id: str  # the operation that granted it, e.g. "checkout:cs_…", "code:…", "admin:…"
    plan: PlanName
    days: int
    granted_at: datetime
    source: GrantSource
    not_before: datetime | None = None  # paid subscription time this grant stacks after
    replace: bool = False  # an admin plan change: resets the chain instead of stacking
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Subscription:
    id: str
    plan: PlanName
    status: str  # Stripe's status
    period_end: datetime
    state_at: datetime  # Stripe timestamp of the newest status applied (out-of-order guard)
    cancel_at_period_end: bool = False
    ended_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATUSES

    def access_end(self) -> datetime | None:
        if self.running:
            return self.period_end if self.cancel_at_period_end else self.period_end + RENEWAL_GRACE
        if self.status == "canceled":
            return self.ended_at or self.state_at
        return None  # incomplete, unpaid, paused: no access


@dataclass(frozen=True)
class SubscriptionUpdate:
    """What one Stripe event says about a subscription; `None` means "not stated"."""

    id: str
    observed_at: datetime
    plan: PlanName | None = None
    status: str | None = None
    cancel_at_period_end: bool | None = None
    period_end: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Account:
    grants: tuple[Grant, ...] = ()
    subscriptions: tuple[Subscription, ...] = field(default=())

    # --- derived ----------------------------------------------------------------------------
    def chain(self) -> tuple[PlanName, datetime | None]:
        """The one-time chain after every grant: (tier, end)."""
        tier: PlanName = "Free"
        end: datetime | None = None
        for g in sorted((g for g in self.grants if g.revoked_at is None), key=lambda g: g.granted_at):
            if g.replace:
                tier, end = (g.plan, g.granted_at + timedelta(days=g.days)) if g.plan != "Free" else ("Free", None)
                continue
            start = max(g.granted_at, g.not_before or g.granted_at)
            if end is not None and end > g.granted_at:  # the chain is still running: stack on it
                start, tier = max(start, end), higher(tier, g.plan)
            else:
                tier = g.plan
            end = start + timedelta(days=g.days)
        return tier, end

    def to_cancel(self) -> tuple[Subscription, ...]:
        """The subscriptions a cancellation stops renewing; refused when there is none."""
        renewing = tuple(s for s in self.subscriptions if s.running and not s.cancel_at_period_end)
        if not renewing:
            raise NoRenewingSubscription
        return renewing

    def subscription_paid_until(self, now: datetime) -> datetime | None:
        ends = [s.period_end for s in self.subscriptions if s.running and s.period_end > now]
        return max(ends, default=None)

    def entitlement(self, now: datetime) -> Entitlement:
        tier, chain_end = self.chain()
        parts: list[tuple[PlanName, datetime]] = []
        if chain_end is not None and chain_end > now and tier != "Free":
            parts.append((tier, chain_end))
        live = [s for s in self.subscriptions if (end := s.access_end()) is not None and end > now]
        parts += [(s.plan, s.access_end() or now) for s in live]
        if not parts:
            had_paid = any(g.revoked_at is None and g.plan != "Free" for g in self.grants) or bool(self.subscriptions)
            return Entitlement(plan="Free", status="expired" if had_paid else "active")
        renewing = [s for s in live if s.running and not s.cancel_at_period_end]
        cancelling = [s for s in live if s.running and s.cancel_at_period_end]
        plan = max((p for p, _ in parts), key=lambda p: LEVEL[p])
        return Entitlement(
            plan=plan,
            status="cancelled" if cancelling and not renewing else "active",
            expires_at=max(end for _, end in parts),
            next_payment_at=min((s.period_end for s in renewing), default=None),
            is_recurring=bool(renewing),
            cancel_at_period_end=bool(cancelling) and not renewing,
        )

    # --- changes (each returns a new Account) -------------------------------------------------
    def grant(self, *, grant_id: str, plan: PlanName, days: int, now: datetime, source: GrantSource) -> Account:
        grant = Grant(id=grant_id, plan=plan, days=days, granted_at=now, source=source,
                      not_before=self.subscription_paid_until(now))
        return dataclasses.replace(self, grants=(*self.grants, grant))

    def set_plan(self, *, grant_id: str, plan: PlanName, days: int, now: datetime) -> Account:
        grant = Grant(id=grant_id, plan=plan, days=days if plan != "Free" else 0, granted_at=now,
                      source="admin", replace=True)
        return dataclasses.replace(self, grants=(*self.grants, grant))

    def revoke(self, grant_id: str, now: datetime) -> Account | None:
        """The account without grant `grant_id` (a refund); None if there is no such live grant."""
        if not any(g.id == grant_id and g.revoked_at is None for g in self.grants):
            return None
        grants = tuple(dataclasses.replace(g, revoked_at=now) if g.id == grant_id else g for g in self.grants)
        return dataclasses.replace(self, grants=grants)

    def update_subscription(self, update: SubscriptionUpdate) -> Account:
        current = next((s for s in self.subscriptions if s.id == update.id), None)
        merged = merge_subscription(current, update)
        others = tuple(s for s in self.subscriptions if s.id != update.id)
        return dataclasses.replace(self, subscriptions=(*others, merged))

    # --- storage --------------------------------------------------------------------------------
    def to_doc(self) -> dict[str, Any]:
        return {"grants": [dataclasses.asdict(g) for g in self.grants],
                "subscriptions": [dataclasses.asdict(s) for s in self.subscriptions]}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> Account:
        if not doc:
            return cls()
        return cls(grants=tuple(Grant(**g) for g in doc.get("grants", ())),
                   subscriptions=tuple(Subscription(**s) for s in doc.get("subscriptions", ())))


def merge_subscription(current: Subscription | None, u: SubscriptionUpdate) -> Subscription:
    """Fold one Stripe event into a subscription, whatever order the events arrive in.

    Period ends only move forward (max); status fields follow the newest Stripe timestamp; a
    cancelled subscription stays cancelled (Stripe never revives one).
    """
    if current is None:
        return Subscription(id=u.id, plan=u.plan or "Basic", status=u.status or "active",
                            period_end=u.period_end or u.observed_at,
                            state_at=u.observed_at if u.status else INFERRED,
                            cancel_at_period_end=bool(u.cancel_at_period_end), ended_at=u.ended_at)
    period_end = max(current.period_end, u.period_end) if u.period_end else current.period_end
    merged = dataclasses.replace(current, plan=u.plan or current.plan, period_end=period_end)
    stated = u.status is not None
    newer = u.observed_at >= current.state_at
    if stated and (u.status == "canceled" or (current.status != "canceled" and newer)):
        merged = dataclasses.replace(
            merged, status=u.status or current.status, state_at=max(u.observed_at, current.state_at),
            cancel_at_period_end=(current.cancel_at_period_end if u.cancel_at_period_end is None
                                  else u.cancel_at_period_end),
            ended_at=u.ended_at or current.ended_at)
    return merged


def effective(entitlement: Entitlement, now: datetime) -> Entitlement:
    """A stored entitlement as of `now`: a paid plan no longer paid is Free (read-time expiry), by
    the one rule every service uses (`Entitlement.paid_until`)."""
    if entitlement.plan != "Free" and not entitlement.is_paid(now):
        return Entitlement(plan="Free", status="expired")
    return entitlement


def legacy_plan(entitlement: Entitlement) -> dict[str, Any]:
    """The legacy Plan object the front end reads: ms timestamps, typed booleans."""
    view: dict[str, Any] = {
        "name": entitlement.plan,
        "expireTime": to_ms(entitlement.expires_at) if entitlement.expires_at else None,
        "isRecurring": entitlement.is_recurring,
        "status": entitlement.status,
    }
    if entitlement.is_recurring and entitlement.next_payment_at is not None:
        # A renewing subscription shows when it renews, not when access would lapse.
        view["expireTime"] = None
        view["nextPaymentTime"] = to_ms(entitlement.next_payment_at)
    return view
