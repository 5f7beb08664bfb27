"""The per-user entitlement document, a versioned document (ds_common.versioned): every change is
ONE conditional single-document write.

That write carries the new Account, the derived entitlement, the version (+1), the operation id
(so an operation applies at most once, however often it is retried or redelivered), the ledger
entry and the events (`plan.changed` and `payment.completed`, `sequence` = version) in the
outbox. Concurrent writers race on `version` and the loser reads again and decides again (no
transactions on FerretDB; MongoDB gives the same single-document guarantee).

Operation ids are kept for good (a few per purchase): they are what makes a Stripe event, a code
or a refund apply once, however late a duplicate arrives. Subscription state updates need none:
folding the same Stripe state in twice changes nothing (see `merge_subscription`).

The ledger entry of the latest change rides in `_ledger` and is copied insert-once into
`payments` under the deterministic id "<user>:<version>" right after the write. Nothing clears it
(a write less on the hot path): the next writer copies it before replacing it (a duplicate insert
is a no-op; an entry written meanwhile by a racing writer rides along in the next `_ledger`), and
the consumer's sweeper copies those of recently changed users, so a writer that died between its
write and its copy loses nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from ds_common.clock import Clock
from ds_common.errors import ServiceUnavailable
from ds_common.events.contracts import Entitlement, PaymentCompleted, PlanChanged, PlanName
from ds_common.events.envelope import Envelope, EventData
from ds_common.events.outbox import OutboxNudge
from ds_common.mongo import Document, DuplicateKeyError
from ds_common.versioned import Change, Documents, VersionedDocuments
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.collections import ENTITLEMENTS, PAYMENTS
from ds_billing.domain.entitlement import Account

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
class AccountChange:
    """What a decision does to an Account: the new Account, the kind of change, and the payment it
    records (if any)."""

    account: Account
    kind: str  # grant | subscription | refund | admin_set
    payment: Payment | None = None


Decide = Callable[[Account, datetime], AccountChange | None]


@dataclass(frozen=True)
class Outcome:
    applied: bool  # False: this operation had been applied before, or changed nothing
    entitlement: Entitlement
    version: int
    account: Account


class Ledger(Protocol):
    """Where ledger entries are copied to, insert-once (`payments`)."""

    async def record(self, entries: Iterable[Document]) -> None: ...


class PaymentLedger:
    """The immutable ledger (`payments`), and the sweep that completes it."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.payments = db[PAYMENTS]
        self.entitlements = db[ENTITLEMENTS]

    async def record(self, entries: Iterable[Document]) -> None:
        for entry in entries:
            with contextlib.suppress(DuplicateKeyError):  # copied before: entries are immutable
                await self.payments.insert_one(dict(entry))

    async def sweep(self, since: datetime) -> int:
        """Copy the latest ledger entries of every user changed since `since`; returns how many users."""
        copied = 0
        async for doc in self.entitlements.find({"updated_at": {"$gte": since}}, {LEDGER: 1}):
            await self.record(doc.get(LEDGER) or ())
            copied += 1
        return copied


class EntitlementStore:
    def __init__(self, documents: Documents, ledger: Ledger, clock: Clock) -> None:
        self.documents = documents
        self.ledger = ledger
        self.clock = clock

    async def load(self, user_id: str) -> tuple[Account, int]:
        doc = await self.documents.get(user_id, {"account": 1, "version": 1})
        return (Account.from_doc(doc.get("account")), int(doc["version"])) if doc else (Account(), 0)

    async def has_applied(self, user_id: str, op: str) -> bool:
        doc = await self.documents.get(user_id, {"applied": 1})
        return doc is not None and op in doc.get("applied", ())

    async def current(self, user_id: str) -> Entitlement:
        account, _ = await self.load(user_id)
        return account.entitlement(self.clock.now())

    async def apply(self, user_id: str, op: str, decide: Decide, *, source: Source, actor: str,
                    reason: str = "", causation: Envelope | None = None, record_op: bool = True) -> Outcome:
        """Apply `decide` to the user's Account, once per `op` (if `record_op`)."""
        seen = await self.documents.get(user_id)
        if seen is not None and op in seen.get("applied", ()):  # applied before (ids are never removed)
            return _unchanged(seen, self.clock.now())
        previous = (seen or {}).get(LEDGER) or ()
        await self.ledger.record(previous)  # its writer may have died before copying it
        copied = {entry["_id"] for entry in previous}

        def change_of(doc: Document | None) -> Change | None:
            now = self.clock.now()
            account = Account.from_doc(doc.get("account")) if doc else Account()
            applied: list[str] = list(doc.get("applied", ())) if doc else []
            change = None if op in applied else decide(account, now)
            if change is None or change.account == account:
                return None
            version = int(doc["version"]) + 1 if doc else 1
            before, after = account.entitlement(now), change.account.entitlement(now)
            entry = _ledger_entry(user_id, version, now, op, change, source, actor, reason, before, after)
            # An entry a racing writer left after our copy rides along, and is copied below.
            uncopied = [e for e in (doc or {}).get(LEDGER) or () if e["_id"] not in copied]
            return Change(set={"account": change.account.to_doc(), "entitlement": after.model_dump(),
                               "applied": [*applied, op] if record_op else applied, "updated_at": now,
                               LEDGER: [*uncopied, entry]},
                          events=_events(user_id, op, after, change, source, reason), causation=causation)

        written = await self.documents.mutate(user_id, change_of)
        if not written.changed:
            return _unchanged(written.document, self.clock.now())
        doc = written.document or {}
        await self.ledger.record(doc[LEDGER])
        return Outcome(True, Entitlement.model_validate(doc["entitlement"]), int(doc["version"]),
                       Account.from_doc(doc["account"]))


def _unchanged(doc: Document | None, now: datetime) -> Outcome:
    account = Account.from_doc(doc.get("account")) if doc else Account()
    return Outcome(False, account.entitlement(now), int(doc["version"]) if doc else 0, account)


def _events(user_id: str, op: str, after: Entitlement, change: AccountChange, source: Source,
            reason: str) -> Sequence[EventData]:
    """`plan.changed`, and `payment.completed` when the change records a payment (the store gives
    both the user id as key and the new version as sequence)."""
    events: list[EventData] = [PlanChanged(user_id=user_id, entitlement=after, source=source, reason=reason)]
    if change.payment is not None:
        p = change.payment
        events.append(PaymentCompleted(payment_id=op, user_id=user_id, provider=p.provider, plan=p.plan, days=p.days,
                                       amount_minor=p.amount_minor, currency=p.currency, provider_ref=p.provider_ref))
    return events


def _ledger_entry(user_id: str, version: int, now: datetime, op: str, change: AccountChange, source: Source,
                  actor: str, reason: str, before: Entitlement, after: Entitlement) -> dict[str, Any]:
    payment = change.payment
    return {"_id": f"{user_id}:{version}", "user_id": user_id, "version": version, "at": now, "op": op,
            "kind": change.kind, "source": source, "actor": actor, "reason": reason,
            "before": before.model_dump(), "after": after.model_dump(),
            "payment": None if payment is None else {
                "provider": payment.provider, "plan": payment.plan, "days": payment.days,
                "amount_minor": payment.amount_minor, "currency": payment.currency,
                "provider_ref": payment.provider_ref}}


def entitlement_store(db: AsyncDatabase[Document], nudge: OutboxNudge | None, clock: Clock) -> EntitlementStore:
    """The store on Mongo: `entitlements` as versioned documents, the ledger in `payments`."""
    documents = VersionedDocuments(db[ENTITLEMENTS], nudge=nudge, clock=clock, attempts=MAX_ATTEMPTS,
                                   busy=lambda: ServiceUnavailable("Entitlement is busy, please retry"))
    return EntitlementStore(documents, PaymentLedger(db), clock)
