"""Use cases behind the HTTP routes that change entitlements without a webhook:
code redemption and assignment, admin plan changes, subscription cancellation.

All of them go through the one entitlement store (same rules, same ledger, same events).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ds_common.clock import Clock
from ds_common.errors import NotFound
from ds_common.events.contracts import Entitlement, PlanName
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.codes import Codes
from ds_billing.adapters.collections import AUDIT
from ds_billing.adapters.entitlements import Change, EntitlementStore, Payment
from ds_billing.adapters.provider import PaymentProvider
from ds_billing.domain.entitlement import Account, SubscriptionUpdate


class Membership:
    def __init__(self, db: AsyncDatabase[Document], store: EntitlementStore, codes: Codes,
                 provider: PaymentProvider, clock: Clock) -> None:
        self.audit_log = db[AUDIT]
        self.store = store
        self.codes = codes
        self.provider = provider
        self.clock = clock

    async def audit(self, actor: str, action: str, **details: Any) -> None:
        await self.audit_log.insert_one({"_id": uuid.uuid4().hex, "at": self.clock.now(), "actor": actor,
                                         "action": action, **details})

    async def redeem(self, random_part: str, user_id: str, *, actor: str) -> Entitlement:
        """Redeem a verified code for `user_id` (the learner, or an admin assigning it)."""
        code = await self.codes.claim(random_part, user_id)
        plan: PlanName = code["plan"]
        days: int = code["days"]
        op = f"code:{random_part}"

        def grant(account: Account, now: datetime) -> Change:
            return Change(account.grant(grant_id=op, plan=plan, days=days, now=now, source="code"), "grant",
                          Payment("code", plan, days, provider_ref=random_part))

        outcome = await self.store.apply(user_id, op, grant, source="code", actor=actor, reason="membership code")
        await self.codes.mark_redeemed(random_part, user_id, actor)
        return outcome.entitlement

    async def set_plan(self, user_id: str, plan: PlanName, days: int, *, admin_id: str) -> Entitlement:
        """An admin replaces the user's one-time plan (it does not stack); Free ends it now."""
        op = f"admin:{uuid.uuid4().hex}"

        def replace(account: Account, now: datetime) -> Change:
            return Change(account.set_plan(grant_id=op, plan=plan, days=days, now=now), "admin_set")

        outcome = await self.store.apply(user_id, op, replace, source="admin", actor=admin_id,
                                         reason=f"admin set {plan} for {days} days")
        return outcome.entitlement

    async def cancel_subscription(self, user_id: str) -> Entitlement:
        """Cancel every renewing subscription at period end, at Stripe first, then here."""
        account, _ = await self.store.load(user_id)
        renewing = [s for s in account.subscriptions if s.running and not s.cancel_at_period_end]
        if not renewing:
            raise NotFound("No active recurring subscription found")
        entitlement = account.entitlement(self.clock.now())
        for sub in renewing:
            # Deterministic per observed subscription state: a retry reuses the key, a cancellation
            # after a reactivation (newer state) gets a new one.
            key = f"cancel-{sub.id}-{int(sub.state_at.timestamp())}"
            await self.provider.cancel_subscription(sub.id, idempotency_key=key)
            update = SubscriptionUpdate(id=sub.id, observed_at=self.clock.now(), status=sub.status,
                                        cancel_at_period_end=True)

            def cancel(account: Account, _: datetime, update: SubscriptionUpdate = update) -> Change:
                return Change(account.update_subscription(update), "subscription")

            outcome = await self.store.apply(user_id, key, cancel, source="stripe", actor=user_id,
                                             reason="cancelled by the user")
            entitlement = outcome.entitlement
        return entitlement
