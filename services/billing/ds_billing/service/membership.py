"""Use cases that change entitlements without a payment provider's webhook: membership codes
(minted, redeemed, assigned), admin plan changes, subscription cancellation.

All of them go through the one entitlement store (same rules, same ledger, same events). Codes are
hardened (W4, W10): minting is admin-only and audited; a code carries an HMAC tag checked in
constant time before any lookup; single use is one atomic claim. Admin plan changes never create a
record for an unknown e-mail (W28).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ds_common.clock import Clock
from ds_common.errors import NotFound
from ds_common.events.contracts import Entitlement, PlanName
from ds_common.mongo import Document

from ds_billing.adapters.entitlements import AccountChange, EntitlementStore, Payment
from ds_billing.adapters.provider import PaymentProvider
from ds_billing.domain import codes
from ds_billing.domain.entitlement import Account, SubscriptionUpdate
from ds_billing.domain.plans import plan_for_days
from ds_billing.service.checkout import stripe_call


class CodeStore(Protocol):
    """The membership codes (adapters.codes.Codes)."""

    key: bytes

    async def create(self, *, days: int, plan: str, created_by: str, custom: bool) -> tuple[str, Document]: ...

    async def claim(self, random_part: str, user_id: str) -> Document: ...

    async def mark_redeemed(self, random_part: str, user_id: str, actor: str) -> None: ...

    async def list_active(self) -> list[dict[str, Any]]: ...


class Directory(Protocol):
    """Billing's projection of auth's users (adapters.users.Users)."""

    async def id_for_email(self, email: str) -> str | None: ...


class Audit(Protocol):
    async def record(self, actor: str, action: str, **details: Any) -> None: ...


@dataclass(frozen=True)
class PlanSet:
    """One e-mail of an admin plan change: the plan it now has, or None (no such user)."""

    email: str
    entitlement: Entitlement | None


class Membership:
    def __init__(self, store: EntitlementStore, codes: CodeStore, users: Directory, audit: Audit,
                 provider: PaymentProvider, clock: Clock) -> None:
        self.store = store
        self.codes = codes
        self.users = users
        self.audit = audit
        self.provider = provider
        self.clock = clock

    # --- codes --------------------------------------------------------------------------------------
    async def mint(self, admin_id: str, days: int, *, custom: bool) -> str:
        """A new code worth `days` (its plan named from them), audited."""
        plan = plan_for_days(days)
        code, doc = await self.codes.create(days=days, plan=plan, created_by=admin_id, custom=custom)
        await self.audit.record(admin_id, "code.generated", code_part=doc["_id"], days=days, plan=plan, custom=custom)
        return code

    async def active_codes(self) -> list[dict[str, Any]]:
        """The codes still redeemable, newest first (bounded)."""
        return await self.codes.list_active()

    async def redeem(self, code: str, user_id: str) -> Entitlement:
        """A learner redeems a code."""
        return await self._redeem(codes.check(self.codes.key, code), user_id, actor=user_id)

    async def assign(self, code: str, email: str, *, admin_id: str) -> Entitlement:
        """An admin redeems a code for the user with this e-mail, audited."""
        random_part = codes.check(self.codes.key, code)
        user_id = await self.users.id_for_email(email)
        if user_id is None:
            raise NotFound(f"User with email {email} not found")
        entitlement = await self._redeem(random_part, user_id, actor=admin_id)
        await self.audit.record(admin_id, "code.assigned", code_part=random_part, user_id=user_id)
        return entitlement

    async def _redeem(self, random_part: str, user_id: str, *, actor: str) -> Entitlement:
        code = await self.codes.claim(random_part, user_id)
        plan: PlanName = code["plan"]
        days: int = code["days"]
        op = f"code:{random_part}"

        def grant(account: Account, now: datetime) -> AccountChange:
            return AccountChange(account.grant(grant_id=op, plan=plan, days=days, now=now, source="code"), "grant",
                                 Payment("code", plan, days, provider_ref=random_part))

        outcome = await self.store.apply(user_id, op, grant, source="code", actor=actor, reason="membership code")
        await self.codes.mark_redeemed(random_part, user_id, actor)
        return outcome.entitlement

    # --- admin plan changes ---------------------------------------------------------------------------
    async def set_plan(self, user_id: str, plan: PlanName, days: int, *, admin_id: str) -> Entitlement:
        """An admin replaces the user's one-time plan (it does not stack; Free ends it now), audited."""
        op = f"admin:{uuid.uuid4().hex}"

        def replace(account: Account, now: datetime) -> AccountChange:
            return AccountChange(account.set_plan(grant_id=op, plan=plan, days=days, now=now), "admin_set")

        outcome = await self.store.apply(user_id, op, replace, source="admin", actor=admin_id,
                                         reason=f"admin set {plan} for {days} days")
        await self.audit.record(admin_id, "plan.set", user_id=user_id, plan=plan, days=days)
        return outcome.entitlement

    async def set_plans(self, emails: Sequence[str], plan: PlanName, days: int, *, admin_id: str) -> list[PlanSet]:
        """`set_plan` for each e-mail (each address once, in order); unknown ones are not created (W28)."""
        results: list[PlanSet] = []
        for email in dict.fromkeys(emails):
            user_id = await self.users.id_for_email(email)
            entitlement = None if user_id is None else await self.set_plan(user_id, plan, days, admin_id=admin_id)
            results.append(PlanSet(email, entitlement))
        return results

    # --- subscriptions ------------------------------------------------------------------------------
    async def cancel_subscription(self, user_id: str) -> Entitlement:
        """Cancel every renewing subscription at period end, at Stripe first, then here."""
        account, _ = await self.store.load(user_id)
        renewing = account.to_cancel()
        entitlement = account.entitlement(self.clock.now())
        for sub in renewing:
            # Deterministic per observed subscription state: a retry reuses the key, a cancellation
            # after a reactivation (newer state) gets a new one.
            key = f"cancel-{sub.id}-{int(sub.state_at.timestamp())}"
            await stripe_call(self.provider.cancel_subscription(sub.id, idempotency_key=key))
            update = SubscriptionUpdate(id=sub.id, observed_at=self.clock.now(), status=sub.status,
                                        cancel_at_period_end=True)

            def cancel(account: Account, _: datetime, update: SubscriptionUpdate = update) -> AccountChange:
                return AccountChange(account.update_subscription(update), "subscription")

            outcome = await self.store.apply(user_id, key, cancel, source="stripe", actor=user_id,
                                             reason="cancelled by the user")
            entitlement = outcome.entitlement
        return entitlement
