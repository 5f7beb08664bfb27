"""Feedback threads (one document per learner, `_id` = user id) and their image attachments.

Attachments live in their own collection (`_id` = UUID, owner recorded) and are resolved to
`data:` URLs on read, as the legacy front end expects. Threads keep the newest messages only.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from bson import Binary
from ds_common.clock import Clock, to_ms
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

MAX_MESSAGES_KEPT = 200
MESSAGES_RETURNED = 100
IMAGE_BYTES_RETURNED = 16 * 1024 * 1024  # data URLs are big: newest images first, up to this much
ADMIN_LIST_LIMIT = 500


class FeedbackStore:
    def __init__(self, db: AsyncDatabase[Document], clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def store_images(self, owner_id: str, images: list[tuple[str, bytes]]) -> list[str]:
        ids = []
        for mime, data in images:
            attachment_id = str(uuid.uuid4())
            await self.db.attachments.insert_one({"_id": attachment_id, "owner": owner_id, "mime": mime,
                                                  "size": len(data), "data": Binary(data), "at": self.clock.now()})
            ids.append(attachment_id)
        return ids

    async def append(self, thread_user_id: str, email: str, *, sender: str, sender_type: str, message: str,
                     image_ids: list[str]) -> dict[str, Any]:
        now = self.clock.now()
        entry = {"id": str(uuid.uuid4()), "sender": sender, "senderType": sender_type, "message": message,
                 "email": email, "timestamp": to_ms(now), "images": image_ids}
        await self.db.feedback_threads.update_one(
            {"_id": thread_user_id},
            {"$push": {"messages": {"$each": [entry], "$slice": -MAX_MESSAGES_KEPT}},
             "$set": {"email": email, "latest_at": now}},
            upsert=True)
        return entry

    async def thread(self, user_id: str) -> list[dict[str, Any]]:
        doc = await self.db.feedback_threads.find_one({"_id": user_id})
        messages: list[dict[str, Any]] = (doc or {}).get("messages", [])[-MESSAGES_RETURNED:]
        wanted = [i for m in reversed(messages) for i in m.get("images", [])]
        urls: dict[str, str] = {}
        budget = IMAGE_BYTES_RETURNED
        if wanted:
            found = {a["_id"]: a async for a in self.db.attachments.find({"_id": {"$in": wanted}})}
            for image_id in wanted:  # newest first; older images are left out past the budget
                a = found.get(image_id)
                if a is None or a["size"] > budget:
                    continue
                budget -= a["size"]
                urls[image_id] = f"data:{a['mime']};base64,{base64.b64encode(bytes(a['data'])).decode()}"
        return [{**m, "images": [urls[i] for i in m.get("images", []) if i in urls]} for m in messages]

    async def senders(self) -> list[dict[str, Any]]:
        """Admin overview: one row per learner with feedback, newest first (bounded)."""
        cursor = self.db.feedback_threads.find({}, {"email": 1, "latest_at": 1}).sort("latest_at", -1)
        return [{"email": d["email"], "timestamp": to_ms(d["latest_at"])}
                for d in await cursor.limit(ADMIN_LIST_LIMIT).to_list()]
