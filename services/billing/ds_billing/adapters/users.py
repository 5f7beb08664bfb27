"""The user_id ↔ email projection built from auth's `user.registered` / `user.updated`.

Admin routes name users by email (legacy contract); billing keys everything by user id. Both
directions are `_id` lookups; the email → id entry is confirmed against the user document, so a
stale entry left by an email change never resolves to the wrong person.
"""

from __future__ import annotations

from ds_common.events.consumer import apply_once_by_sequence
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.collections import USER_EMAILS, USERS


def normalize_email(email: str) -> str:
    return email.strip().lower()


class Users:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.users = db[USERS]
        self.emails = db[USER_EMAILS]

    async def record(self, user_id: str, email: str, sequence: int) -> None:
        email = normalize_email(email)
        # The email index first: a lookup only trusts it once the user document agrees.
        await self.emails.update_one({"_id": email}, {"$set": {"user_id": user_id}}, upsert=True)
        await apply_once_by_sequence(self.users, user_id, sequence, {"$set": {"email": email}})

    async def id_for_email(self, email: str) -> str | None:
        email = normalize_email(email)
        entry = await self.emails.find_one({"_id": email})
        if entry is None:
            return None
        user = await self.users.find_one({"_id": entry["user_id"]}, {"email": 1})
        return str(entry["user_id"]) if user is not None and user.get("email") == email else None

    async def email_of(self, user_id: str) -> str | None:
        user = await self.users.find_one({"_id": user_id}, {"email": 1})
        return str(user["email"]) if user else None
