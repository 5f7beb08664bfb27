"""Feedback: a learner's messages to the team (with images), and the admins' replies.

Threads are readable by their owner and by admins only (legacy W6); their images are links that
carry their own permission (domain/feedback.py ImageLinks). Admins see whether the learner has
proven their address: a message from an address nobody proved is marked in its sender's name.
"""

from __future__ import annotations

from typing import Any

from ds_common.auth import Principal
from ds_common.clock import Clock
from ds_common.errors import Forbidden, NotFound

from ds_auth.domain.feedback import ImageLinks, feedback_message
from ds_auth.domain.users import normalize_email
from ds_auth.service.ports import FeedbackThreads, Limits, Users
from ds_auth.settings import Settings

Images = list[tuple[str, bytes]]  # (checked MIME type, bytes)
UNPROVEN_MARK = " (e-mail not verified)"


class Feedback:
    def __init__(self, settings: Settings, *, threads: FeedbackThreads, users: Users, limits: Limits,
                 links: ImageLinks, clock: Clock) -> None:
        self.settings = settings
        self.threads = threads
        self.users = users
        self.limits = limits
        self.links = links
        self.clock = clock

    async def admit(self, user_id: str) -> None:
        """Count a submission (429 past the limit), before its upload is read."""
        await self.limits.limit(("feedback-user", user_id, self.settings.limit_feedback_per_user))

    async def submit(self, user_id: str, message: str, images: Images) -> dict[str, Any]:
        """Append a learner's message to their thread; the entry as stored."""
        text = feedback_message(message, self.settings.feedback_max_message_chars)
        me = await self.users.user_object(user_id)
        image_ids = await self.threads.store_images(user_id, images, capped=True)
        return await self.threads.append(user_id, me["email"], sender=me["username"], sender_type="user",
                                         message=text, image_ids=image_ids, email_verified=me["email_verified"])

    async def thread(self, caller: Principal, user_email: str | None) -> list[dict[str, Any]]:
        """The caller's own thread, or (admins only) the thread of `user_email`; images as links."""
        messages = await self.threads.thread(await self._owner(caller, user_email))
        now = self.clock.now()
        shown = []
        for m in messages:
            entry = {**m, "images": [self.links.url(i, now) for i in m.get("images", [])]}
            if caller.is_admin and m.get("emailVerified") is False:
                entry["sender"] = m["sender"] + UNPROVEN_MARK
            shown.append(entry)
        return shown

    async def image(self, image_id: str, expires: int, signature: str) -> tuple[str, bytes, int]:
        """(MIME type, bytes, seconds the link stays valid) of a linked image."""
        now = self.clock.now()
        if not self.links.valid(image_id, expires, signature, now):
            raise Forbidden("Invalid or expired image link")
        found = await self.threads.image(image_id)
        if found is None:
            raise NotFound("Image not found")
        return found["mime"], bytes(found["data"]), max(int(expires - now.timestamp()), 0)

    async def senders(self) -> list[dict[str, Any]]:
        return await self.threads.senders()

    async def reply(self, admin: Principal, email: str, response: str, images: Images) -> dict[str, Any]:
        """An admin's reply in a learner's thread (audited); the entry as stored."""
        text = feedback_message(response, self.settings.feedback_max_message_chars)
        target_id = await self.users.id_for_email(normalize_email(email))
        if target_id is None:
            raise NotFound("User not found")
        target = await self.users.user_object(target_id)
        me = await self.users.user_object(admin.user_id)
        image_ids = await self.threads.store_images(target_id, images, capped=False)
        entry = await self.threads.append(target_id, target["email"], sender=me["username"], sender_type="admin",
                                          message=text, image_ids=image_ids, email_verified=target["email_verified"])
        await self.users.audit(admin.user_id, "feedback.reply", target=target_id, message_id=entry["id"])
        return entry

    async def _owner(self, caller: Principal, user_email: str | None) -> str:
        if not user_email:
            return caller.user_id
        email = normalize_email(user_email)
        if email == caller.email:
            return caller.user_id
        if not caller.is_admin:
            raise Forbidden("Access denied")
        user_id = await self.users.id_for_email(email)
        if user_id is None:
            raise NotFound("User not found")
        return user_id
