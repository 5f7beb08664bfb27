"""Membership codes in Mongo: single use enforced by one atomic claim (legacy W10).

Redemption is claim → grant → mark redeemed. The claim (`active` → `claimed` by one user) is a
single conditional write, so of two concurrent redemptions exactly one wins. The grant is keyed
by the code, so if the process dies after the claim the same user can simply redeem again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ds_common.clock import Clock
from ds_common.mongo import Document
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.collections import CODES
from ds_billing.domain import codes
from ds_billing.domain.plans import duration_label

LIST_LIMIT = 200


class Codes:
    def __init__(self, db: AsyncDatabase[Document], key: bytes, *, lifetime_s: int, clock: Clock) -> None:
        self.coll = db[CODES]
        self.key = key
        self.lifetime = timedelta(seconds=lifetime_s)
        self.clock = clock

    async def create(self, *, days: int, plan: str, created_by: str, custom: bool) -> tuple[str, Document]:
        random_part, code = codes.new_code(self.key)
        now = self.clock.now()
        doc = {"_id": random_part, "days": days, "plan": plan, "label": duration_label(days), "custom": custom,
               "state": "active", "created_by": created_by, "created_at": now, "expires_at": now + self.lifetime}
        await self.coll.insert_one(doc)
        return code, doc

    async def claim(self, random_part: str, user_id: str) -> Document:
        now = self.clock.now()
        doc = await self.coll.find_one_and_update(
            {"_id": random_part, "state": "active", "expires_at": {"$gt": now}},
            {"$set": {"state": "claimed", "claimed_by": user_id, "claimed_at": now}},
            return_document=ReturnDocument.AFTER)
        if doc is not None:
            return doc
        return dict(codes.after_lost_claim(await self.coll.find_one({"_id": random_part}), user_id, now))

    async def mark_redeemed(self, random_part: str, user_id: str, actor: str) -> None:
        await self.coll.update_one(
            {"_id": random_part, "state": "claimed", "claimed_by": user_id},
            {"$set": {"state": "redeemed", "redeemed_at": self.clock.now(), "redeemed_by": actor}})

    async def list_active(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        docs = await (self.coll.find({"state": "active", "expires_at": {"$gt": now}})
                      .sort("created_at", -1).limit(LIST_LIMIT).to_list())
        return [self._view(doc, now) for doc in docs]

    def _view(self, doc: Document, now: datetime) -> dict[str, Any]:
        expires_at: datetime = doc["expires_at"]
        return {"code_part": doc["_id"], "full_code": codes.full_code(self.key, doc["_id"]),
                "duration": doc["label"], "days": doc["days"], "plan": doc["plan"],
                "created_at": int(doc["created_at"].timestamp() * 1000),
                "expires_at": int(expires_at.timestamp() * 1000),
                "remaining_seconds": max(int((expires_at - now).total_seconds()), 0)}
