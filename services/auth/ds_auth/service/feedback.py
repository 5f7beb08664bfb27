"""Feedback: a learner's messages to the team (with images), and the admins' replies.

Threads are readable by their owner and by admins only (legacy W6).
"""

from __future__ import annotations

from typing import Any

from ds_common.auth import Principal
from ds_common.errors import Forbidden, NotFound

from ds_auth.domain.feedback import feedback_message
from ds_auth.domain.users import normalize_email
from ds_auth.service.ports import FeedbackThreads, Limits, Users
from ds_auth.settings import Settings

Images = list[tuple[str, bytes]]  # (checked MIME type, bytes)


class Feedback:
    def __init__(self, settings: Settings, *, threads: FeedbackThreads, users: Users, limits: Limits) -> None:
        self.settings = settings
        self.threads = threads
        self.users = users
        self.limits = limits

    async def admit(self, user_id: str) -> None:
        """Count a submission (429 past the limit), before its upload is read."""
        await self.limits.limit(("feedback-user", user_id, self.settings.limit_feedback_per_user))

    async def submit(self, user_id: str, message: str, images: Images) -> dict[str, Any]:
        """Append a learner's message to their thread; the entry as stored."""
        text = feedback_message(message, self.settings.feedback_max_message_chars)
        me = await self.users.user_object(user_id)
        image_ids = await self.threads.store_images(user_id, images)
        return await self.threads.append(user_id, me["email"], sender=me["username"], sender_type="user",
                                         message=text, image_ids=image_ids)

    async def thread(self, caller: Principal, user_email: str | None) -> list[dict[str, Any]]:
        """The caller's own thread, or (admins only) the thread of `user_email`."""
        return await self.threads.thread(await self._owner(caller, user_email))

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
        image_ids = await self.threads.store_images(target_id, images)
        entry = await self.threads.append(target_id, target["email"], sender=me["username"], sender_type="admin",
                                          message=text, image_ids=image_ids)
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
