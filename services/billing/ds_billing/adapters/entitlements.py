"""The per-user entitlement document: every change is ONE conditional single-document write.

That write carries the new Account, the derived entitlement, the version (+1), the operation id
(so an operation applies at most once, however often it is retried or redelivered), the ledger
entry and the events (`plan.changed` with `sequence` = version, `payment.completed`) in the
outbox. Concurrent writers race on `version` and the loser re-reads and retries (no transactions
on FerretDB; MongoDB gives the same single-document guarantee).

Ledger entries ride in `_ledger` and are then copied insert-once into `payments` under the
deterministic id "<user>:<version>"; a crash before the copy leaves them for `sweep_ledger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ds_common.clock import Clock
from ds_common.errors import ServiceUnavailable
from ds_common.events.contracts import Entitlement, PaymentCompleted, PlanChanged, PlanName
from ds_common.events.envelope import Envelope, new_event
from ds_common.events.outbox import OutboxNudge, document_with_events, with_events
from ds_common.mongo import Document, DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.collections import ENTITLEMENTS, PAYMENTS
from ds_billing.domain.entitlement import Account

logger = logging.getLogger("ds.billing.entitlements")

Source = Literal["stripe", "code", "admin", "refund"]
APPLIED_KEPT = 200  # older operation ids fall out; the webhook archive dedupes Stripe events for good
MAX_ATTEMPTS = 30
LEDGER = "_ledger"
LEDGER_PENDING = "_ledger_pending"


@dataclass(frozen=True)
class Payment:
    provider: Literal["stripe", "code", "admin"]
    plan: PlanName
    days: int
    amount_minor: int = 0
    currency: str = ""
    provider_ref: str = ""


@dataclass(frozen=True)
class Change:
    account: Account
    kind: str  # grant | subscription | refund | admin_set
    payment: Payment | None = None


Decide = Callable[[Account, datetime], Change | None]


@dataclass(frozen=True)
class Outcome:
    applied: bool  # False: this operation had been applied before, or changed nothing
    entitlement: Entitlement
    version: int
    account: Account


class EntitlementStore:
    def __init__(self, db: AsyncDatabase[Document], nudge: OutboxNudge, clock: Clock) -> None:
        self.coll = db[ENTITLEMENTS]
        self.payments = db[PAYMENTS]
        self.nudge = nudge
        self.clock = clock

    async def load(self, user_id: str) -> tuple[Account, int]:
        doc = await self.coll.find_one({"_id": user_id}, {"account": 1, "version": 1})
        return (Account.from_doc(doc.get("account")), int(doc["version"])) if doc else (Account(), 0)

    async def current(self, user_id: str) -> Entitlement:
        account, _ = await self.load(user_id)
        return account.entitlement(self.clock.now())

    async def apply(self, user_id: str, op: str, decide: Decide, *, source: Source, actor: str,
                    reason: str = "", causation: Envelope | None = None) -> Outcome:
        """Apply `decide` to the user's Account once per `op`."""
        for attempt in range(MAX_ATTEMPTS):
            now = self.clock.now()
            doc = await self.coll.find_one({"_id": user_id}, {"account": 1, "version": 1, "applied": 1})
            account = Account.from_doc(doc.get("account")) if doc else Account()
            version = int(doc["version"]) if doc else 0
            applied: list[str] = list(doc.get("applied", ())) if doc else []
            change = None if op in applied else decide(account, now)
            if change is None or change.account == account:
                return Outcome(False, account.entitlement(now), version, account)
            new_version = version + 1
            before, after = account.entitlement(now), change.account.entitlement(now)
            events = self._events(user_id, op, new_version, after, change, source, reason, causation)
            entry = _ledger_entry(user_id, new_version, now, op, change, source, actor, reason, before, after)
            state = {"version": new_version, "account": change.account.to_doc(),
                     "entitlement": after.model_dump(), "applied": [*applied, op][-APPLIED_KEPT:],
                     "updated_at": now, LEDGER_PENDING: True}
            if doc is None:
                try:
                    await self.coll.insert_one(document_with_events({"_id": user_id, **state, LEDGER: [entry]},
                                                                    *events))
                except DuplicateKeyError:
                    continue
            else:
                update = with_events({"$set": state, "$push": {LEDGER: entry}}, *events)
                result = await self.coll.update_one({"_id": user_id, "version": version}, update)
                if result.matched_count == 0:
                    await asyncio.sleep(0.002 * attempt)  # lost the race: re-read and decide again
                    continue
            await self.nudge.nudge()
            await self.flush_ledger(user_id, [entry])
            return Outcome(True, after, new_version, change.account)
        raise ServiceUnavailable("Entitlement is busy, please retry")

    @staticmethod
    def _events(user_id: str, op: str, version: int, after: Entitlement, change: Change, source: Source,
                reason: str, causation: Envelope | None) -> list[Envelope]:
        events = [new_event(PlanChanged(user_id=user_id, entitlement=after, source=source, reason=reason),
                            key=user_id, sequence=version, producer="billing", causation=causation)]
        if change.payment is not None:
            p = change.payment
            events.append(new_event(
                PaymentCompleted(payment_id=op, user_id=user_id, provider=p.provider, plan=p.plan, days=p.days,
                                 amount_minor=p.amount_minor, currency=p.currency, provider_ref=p.provider_ref),
                key=user_id, sequence=version, producer="billing", causation=causation))
        return events

    # --- the ledger ---------------------------------------------------------------------------------
    async def flush_ledger(self, user_id: str, entries: Sequence[Document]) -> None:
        for entry in entries:
            with contextlib.suppress(DuplicateKeyError):  # copied before (after a crash): entries are immutable
                await self.payments.insert_one(dict(entry))
        cleared = await self.coll.update_one({"_id": user_id, LEDGER: list(entries)},
                                             {"$set": {LEDGER: []}, "$unset": {LEDGER_PENDING: ""}})
        if cleared.matched_count == 0:  # other entries arrived meanwhile: remove just ours
            await self.coll.update_one({"_id": user_id}, {"$pullAll": {LEDGER: list(entries)}})

    async def sweep_ledger(self, limit: int = 200) -> int:
        """Copy ledger entries a crashed writer left behind; returns how many were flushed."""
        flushed = 0
        async for doc in self.coll.find({LEDGER_PENDING: True}, {LEDGER: 1}).limit(limit):
            entries = list(doc.get(LEDGER) or ())
            await self.flush_ledger(doc["_id"], entries)
            flushed += len(entries)
        return flushed

    async def history(self, user_id: str, limit: int = 50) -> list[Document]:
        return await self.payments.find({"user_id": user_id}).sort("at", -1).limit(limit).to_list()


def _ledger_entry(user_id: str, version: int, now: datetime, op: str, change: Change, source: Source,
                  actor: str, reason: str, before: Entitlement, after: Entitlement) -> dict[str, Any]:
    payment = change.payment
    return {"_id": f"{user_id}:{version}", "user_id": user_id, "version": version, "at": now, "op": op,
            "kind": change.kind, "source": source, "actor": actor, "reason": reason,
            "before": before.model_dump(), "after": after.model_dump(),
            "payment": None if payment is None else {
                "provider": payment.provider, "plan": payment.plan, "days": payment.days,
                "amount_minor": payment.amount_minor, "currency": payment.currency,
                "provider_ref": payment.provider_ref}}
