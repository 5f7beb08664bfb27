"""Feedback threads (one document per learner, `_id` = user id), their image attachments, and the
threads detached from an address when its owner proved it.

Attachments live in their own collection (`_id` = UUID, `owner` = the thread's user) and are served
one at a time by id (api/feedback.py), never inline in a thread, so no read carries more than one
image. What a learner may keep is bounded: `attachment_usage` counts their images and bytes, and a
store reserves its room there atomically first. Threads keep the newest messages only.
"""

from __future__ import annotations

import uuid
from typing import Any

from bson import Binary
from ds_common.clock import Clock, to_ms
from ds_common.mongo import Document, DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from ds_auth.domain.feedback import TooManyImages

MAX_MESSAGES_KEPT = 200
MESSAGES_RETURNED = 100
ADMIN_LIST_LIMIT = 500
DETACH_ATTEMPTS = 5


class FeedbackStore:
    def __init__(self, db: AsyncDatabase[Document], clock: Clock, *, max_images: int, max_bytes: int) -> None:
        self.db = db
        self.clock = clock
        self.max_images = max_images
        self.max_bytes = max_bytes

    async def store_images(self, owner_id: str, images: list[tuple[str, bytes]], *, capped: bool) -> list[str]:
        """Store the images in `owner_id`'s name; `capped`: within the owner's allowance (a learner's
        own upload; an admin's reply is not counted against the learner)."""
        if not images:
            return []
        count, size = len(images), sum(len(data) for _, data in images)
        if capped:
            await self._reserve(owner_id, count, size)
        now = self.clock.now()
        docs = [{"_id": str(uuid.uuid4()), "owner": owner_id, "mime": mime, "size": len(data), "data": Binary(data),
                 "at": now} for mime, data in images]
        try:
            await self.db.attachments.insert_many(docs)
        except BaseException:  # cancelled too
            if capped:  # give the room back: nothing was stored
                await self.db.attachment_usage.update_one({"_id": owner_id},
                                                          {"$inc": {"images": -count, "bytes": -size}})
            raise
        return [d["_id"] for d in docs]

    async def _reserve(self, owner_id: str, count: int, size: int) -> None:
        refused = TooManyImages(f"You can keep at most {self.max_images} images "
                                f"({self.max_bytes // (1024 * 1024)} MB) in your feedback")
        if count > self.max_images or size > self.max_bytes:
            raise refused
        room = {"_id": owner_id, "images": {"$lte": self.max_images - count}, "bytes": {"$lte": self.max_bytes - size}}
        try:  # matched: room reserved; no room: the upsert collides with the existing document
            await self.db.attachment_usage.update_one(room, {"$inc": {"images": count, "bytes": size}}, upsert=True)
        except DuplicateKeyError:
            raise refused from None

    async def image(self, image_id: str) -> Document | None:
        return await self.db.attachments.find_one({"_id": image_id}, {"mime": 1, "data": 1})

    async def append(self, thread_user_id: str, email: str, *, sender: str, sender_type: str, message: str,
                     image_ids: list[str], email_verified: bool) -> dict[str, Any]:
        """`email_verified`: whether the thread's owner has proven their address (shown to admins)."""
        now = self.clock.now()
        entry = {"id": str(uuid.uuid4()), "sender": sender, "senderType": sender_type, "message": message,
                 "email": email, "timestamp": to_ms(now), "images": image_ids}
        if sender_type == "user":
            entry["emailVerified"] = email_verified
        await self.db.feedback_threads.update_one(
            {"_id": thread_user_id},
            {"$push": {"messages": {"$each": [entry], "$slice": -MAX_MESSAGES_KEPT}},
             "$set": {"email": email, "latest_at": now, "email_verified": email_verified}},
            upsert=True)
        return entry

    async def thread(self, user_id: str) -> list[dict[str, Any]]:
        """The newest messages, their images as ids."""
        doc = await self.db.feedback_threads.find_one({"_id": user_id})
        messages: list[dict[str, Any]] = (doc or {}).get("messages", [])[-MESSAGES_RETURNED:]
        return messages

    async def senders(self) -> list[dict[str, Any]]:
        """Admin overview: one row per learner with feedback, newest first (bounded)."""
        cursor = self.db.feedback_threads.find({}, {"email": 1, "latest_at": 1, "email_verified": 1})
        return [{"email": d["email"], "timestamp": to_ms(d["latest_at"]),
                 "emailVerified": bool(d.get("email_verified", True))}
                for d in await cursor.sort("latest_at", -1).limit(ADMIN_LIST_LIMIT).to_list()]

    async def detach(self, user_id: str) -> None:
        """Move the user's thread and images out of their sight, into `feedback_detached` (kept for
        the admins' records): what someone wrote while holding an address they never proved."""
        for _ in range(DETACH_ATTEMPTS):
            doc = await self.db.feedback_threads.find_one({"_id": user_id})
            if doc is None:
                break
            kept = {**doc, "_id": str(uuid.uuid4()), "user_id": user_id, "detached_at": self.clock.now()}
            await self.db.feedback_detached.insert_one(kept)
            # Only the thread as copied: a message appended meanwhile means copying it again.
            as_copied = {"_id": user_id, "latest_at": doc["latest_at"]}
            if (await self.db.feedback_threads.delete_one(as_copied)).deleted_count:
                break
            await self.db.feedback_detached.delete_one({"_id": kept["_id"]})
        await self.db.attachments.update_many({"owner": user_id}, {"$set": {"owner": f"detached:{user_id}"}})
        await self.db.attachment_usage.delete_one({"_id": user_id})
