"""Each learner's latest typed practice, projected from progress's `practice.recorded`: what the
admin user table shows as "Active" and "Last active" (legacy `dictation_progress`).

One document per user (`_id` = user id), replaced by a newer practice only, so replays and
out-of-order deliveries change nothing. Saves without typed text are not activity here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from ds_common.events.contracts import PracticeRecorded
from ds_common.mongo import Document, DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

ACTIVITY = "activity"


class ActivityStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ACTIVITY]

    async def keep_latest(self, latest: Mapping[str, PracticeRecorded]) -> None:
        """Store each learner's practice unless a newer one is stored (one write per learner;
        domain.users.latest_typed_practice picks them from a batch)."""
        for user_id, data in latest.items():
            newer = {"$or": [{"at": {"$lt": data.recorded_at}}, {"at": {"$exists": False}}]}
            with contextlib.suppress(DuplicateKeyError):  # the stored practice is newer
                await self.collection.update_one({"_id": user_id, **newer}, {"$set": {
                    "at": data.recorded_at, "channel_id": data.channel_id, "video_id": data.video_id,
                    "completion": data.completion or 0, "index": data.last_input_index or 0,
                    "input": data.last_input}}, upsert=True)

    async def of_users(self, user_ids: Sequence[str]) -> dict[str, Document]:
        # One `_id` read each: an index hit on every store (FerretDB scans for `$in`).
        found = await asyncio.gather(*(self.collection.find_one({"_id": u}) for u in user_ids))
        return {doc["_id"]: doc for doc in found if doc is not None}
