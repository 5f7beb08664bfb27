"""What billing keeps of Stripe: the Checkout Sessions it opened, the Stripe events it fulfilled,
and the references (subscription, payment intent) that tie a later event to a user and a grant.
Every read and write is by `_id` (see `collections`).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from ds_common.mongo import Document, DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.collections import CHECKOUTS, STRIPE_EVENTS, STRIPE_REFS


class StripeRecords:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.checkouts = db[CHECKOUTS]
        self.archive = db[STRIPE_EVENTS]
        self.refs = db[STRIPE_REFS]

    # --- Checkout Sessions ----------------------------------------------------------------------
    async def opened(self, session_id: str, *, user_id: str, plan: str, days: int, mode: str, provider: str,
                     at: datetime) -> None:
        """A session we created (once: a reused session keeps its first record)."""
        await self.checkouts.update_one(
            {"_id": session_id},
            {"$setOnInsert": {"user_id": user_id, "plan": plan, "days": days, "mode": mode, "provider": provider,
                              "status": "open", "created_at": at}},
            upsert=True)

    async def checkout(self, session_id: str) -> Document | None:
        return await self.checkouts.find_one({"_id": session_id})

    async def checkout_status(self, session_id: str, status: str) -> None:
        await self.checkouts.update_one({"_id": session_id}, {"$set": {"status": status}})

    # --- fulfilled events -------------------------------------------------------------------------
    async def fulfilled(self, event_id: str) -> bool:
        return await self.archive.find_one({"_id": event_id}, {"_id": 1}) is not None

    async def record_fulfilled(self, event_id: str, **record: Any) -> None:
        with contextlib.suppress(DuplicateKeyError):  # a repeat delivery: the first record stays
            await self.archive.insert_one({"_id": event_id, **record})

    # --- references ---------------------------------------------------------------------------------
    async def remember(self, ref_id: str, *, user_id: str, plan: str, grant_id: str) -> None:
        with contextlib.suppress(DuplicateKeyError):  # insert-once: a cheap write on every store
            await self.refs.insert_one({"_id": ref_id, "user_id": user_id, "plan": plan, "grant_id": grant_id})

    async def ref(self, ref_id: str) -> Document | None:
        return await self.refs.find_one({"_id": ref_id})
