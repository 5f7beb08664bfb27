"""The quota ledgers (one versioned document per learner, ds_common.versioned) and the plan mirror,
read together through one Redis copy by every quota check.

A registration is one conditional single-document write guarded by the ledger's `rev`, with its
`video.started` in the same write, so racing tabs cannot exceed the limit; a refusal or an
already registered video writes nothing. Readers use the copy; a registration decides on the
stored ledger (the copy may be a moment old) and forgets the copy after its write.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ds_common.cache import DocumentCache
from ds_common.clock import Clock
from ds_common.errors import ServiceUnavailable
from ds_common.events.outbox import OUTBOX, PENDING, OutboxNudge
from ds_common.mongo import Document
from ds_common.versioned import Decide, VersionedDocuments, Written
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import ENTITLEMENTS, QUOTA


@dataclass(frozen=True)
class Learner:
    """What quota checks read: the learner's ledger and plan mirror (either may be absent)."""

    quota: Document | None
    entitlement: Document | None


class QuotaLedgers:
    def __init__(self, db: AsyncDatabase[Document], copies: DocumentCache, nudge: OutboxNudge | None,
                 clock: Clock) -> None:
        self.ledgers = VersionedDocuments(
            db[QUOTA], nudge=nudge, clock=clock, version_field="rev", attempts=100,
            busy=lambda: ServiceUnavailable("Too many concurrent registrations, please retry"))
        self.collection = db[QUOTA]
        self.entitlements = db[ENTITLEMENTS]
        self.copies = copies

    async def learner(self, user_id: str) -> Learner:
        state = await self.copies.get(user_id, self._load) or {}
        return Learner(quota=state.get("quota"), entitlement=state.get("entitlement"))

    async def _load(self, user_ids: list[str]) -> dict[str, Document]:
        async def one(user_id: str) -> Document:
            quota, entitlement = await asyncio.gather(
                self.collection.find_one({"_id": user_id}, {OUTBOX: 0, PENDING: 0}),
                self.entitlements.find_one({"_id": user_id}))
            return {"quota": quota, "entitlement": entitlement}
        return dict(zip(user_ids, await asyncio.gather(*map(one, user_ids)), strict=True))

    async def change(self, user_id: str, decide: Decide) -> Written:
        written = await self.ledgers.mutate(user_id, decide, created={"videos": [], "history": [], "opened": []})
        if written.changed:
            await self.copies.forget(user_id)
        return written
