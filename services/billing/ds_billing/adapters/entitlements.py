"""The per-user entitlement document: every change is ONE conditional single-document write.

That write carries the new Account, the derived entitlement, the version (+1), the operation id
(so an operation applies at most once, however often it is retried or redelivered), the ledger
entry and the events (`plan.changed` with `sequence` = version, `payment.completed`) in the
outbox. Concurrent writers race on `version` and the loser re-reads and retries (no transactions
on FerretDB; MongoDB gives the same single-document guarantee).

Operation ids are kept for good (a few per purchase): they are what makes a Stripe event, a code
or a refund apply once, however late a duplicate arrives. Subscription state updates need none:
folding the same Stripe state in twice changes nothing (see `merge_subscription`).

The ledger entry of the latest change rides in `_ledger` and is copied insert-once into
`payments` under the deterministic id "<user>:<version>" right after the write. Nothing clears it
(a write less on the hot path): the next writer copies it again before replacing it (a duplicate
insert is a no-op), and `sweep_ledger` copies those of recently changed users, so a writer that
died between its write and its copy loses nothing.
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

Source = Literal["stripe", "zpay", "code", "admin", "refund"]
MAX_ATTEMPTS = 30
LEDGER = "_ledger"


@dataclass(frozen=True)
class Payment:
    provider: Literal["stripe", "zpay", "code", "admin"]
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

    async def has_applied(self, user_id: str, op: str) -> bool:
        return await self.coll.find_one({"_id": user_id, "applied": op}, {"_id": 1}) is not None

    async def current(self, user_id: str) -> Entitlement:
        account, _ = await self.load(user_id)
        return account.entitlement(self.clock.now())

    async def apply(self, user_id: str, op: str, decide: Decide, *, source: Source, actor: str,
                    reason: str = "", causation: Envelope | None = None, record_op: bool = True) -> Outcome:
        """Apply `decide` to the user's Account, once per `op` (if `record_op`)."""
        for attempt in range(MAX_ATTEMPTS):
            now = self.clock.now()
            doc = await self.coll.find_one({"_id": user_id}, {"account": 1, "version": 1, "applied": 1, LEDGER: 1})
            account = Account.from_doc(doc.get("account")) if doc else Account()
            version = int(doc["version"]) if doc else 0
            applied: list[str] = list(doc.get("applied", ())) if doc else []
            change = None if op in applied else decide(account, now)
            if change is None or change.account == account:
                return Outcome(False, account.entitlement(now), version, account)
            if doc is not None and doc.get(LEDGER):
                await self._copy(doc[LEDGER])  # its writer may have died before copying it
            new_version = version + 1
            before, after = account.entitlement(now), change.account.entitlement(now)
            events = self._events(user_id, op, new_version, after, change, source, reason, causation)
            entry = _ledger_entry(user_id, new_version, now, op, change, source, actor, reason, before, after)
            state = {"version": new_version, "account": change.account.to_doc(), "entitlement": after.model_dump(),
                     "applied": [*applied, op] if record_op else applied, "updated_at": now, LEDGER: [entry]}
            if doc is None:
                try:
                    await self.coll.insert_one(document_with_events({"_id": user_id, **state}, *events))
                except DuplicateKeyError:
                    continue
            else:
                result = await self.coll.update_one({"_id": user_id, "version": version},
                                                    with_events({"$set": state}, *events))
                if result.matched_count == 0:
                    await asyncio.sleep(0.002 * attempt)  # lost the race: re-read and decide again
                    continue
            await self.nudge.nudge(ENTITLEMENTS, user_id)
            await self._copy([entry])
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
    async def _copy(self, entries: Sequence[Document]) -> None:
        for entry in entries:
            with contextlib.suppress(DuplicateKeyError):  # copied before: entries are immutable
                await self.payments.insert_one(dict(entry))

    async def sweep_ledger(self, since: datetime) -> int:
        """Copy the latest ledger entry of every user changed since `since`; returns how many."""
        copied = 0
        async for doc in self.coll.find({"updated_at": {"$gte": since}}, {LEDGER: 1}):
            await self._copy(doc.get(LEDGER) or ())
            copied += 1
        return copied


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
