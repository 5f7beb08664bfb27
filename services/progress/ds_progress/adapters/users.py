"""The user directory progress keeps from auth's `user.registered` / `user.updated`: e-mail (an
admin reads a learner's progress by e-mail) and sign-up day (the admin usage statistics)."""

from __future__ import annotations

from datetime import datetime

from ds_common.clock import to_ms, utc_midnight
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import USERS


class UserDirectory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[USERS]

    async def created_at(self, user_id: str) -> datetime | None:
        """When the account was created (None until its `user.registered` has arrived)."""
        doc = await self.collection.find_one({"_id": user_id}, {"created_at": 1})
        created: datetime | None = (doc or {}).get("created_at")
        return created

    async def by_email(self, email: str) -> Document | None:
        return await self.collection.find_one({"email": email.strip().lower()})

    async def new_per_day(self, since: datetime) -> dict[int, int]:
        cursor = await self.collection.aggregate([
            {"$match": {"created_day": {"$gte": to_ms(utc_midnight(since))}}},
            {"$group": {"_id": "$created_day", "n": {"$sum": 1}}}])
        return {int(row["_id"]): int(row["n"]) async for row in cursor}
