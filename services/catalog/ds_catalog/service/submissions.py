"""Learner submissions: channel recommendations (including the admin's approve/reject path,
which legacy broke, W22) and video error reports. Each learner's writes are rate-limited;
submissions have UUID ids (legacy W21: millisecond ids collided)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ds_common.auth import Principal
from ds_common.clock import Clock, to_ms
from ds_common.errors import NotFound
from ds_common.mongo import Document
from ds_common.redis import RateLimiter

from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.adapters.submissions_repo import SubmissionsRepo
from ds_catalog.domain import submissions as rules
from ds_catalog.service.channels import Channels
from ds_catalog.settings import Settings

HOUR_S = 3600


class Submissions:
    def __init__(self, store: SubmissionsRepo, catalog: CatalogRepo, channels: Channels, limiter: RateLimiter,
                 clock: Clock, settings: Settings) -> None:
        self.store = store
        self.catalog = catalog
        self.channels = channels
        self.limiter = limiter
        self.clock = clock
        self.settings = settings

    # --- channel recommendations ------------------------------------------------------------
    async def recommend(self, user: Principal, *, name: str, link: str, language: str) -> Document:
        """A learner's recommendation, pending an admin's decision; as stored, without the e-mail."""
        await self.limiter.hit("recommendation", user.user_id, limit=self.settings.submissions_per_hour,
                               window_s=HOUR_S)
        doc = {"id": str(uuid.uuid4()), "name": name, "link": link, "language": language,
               "submittedAt": to_ms(self.clock.now()), "status": "pending", "user_id": user.user_id,
               "userEmail": user.email or ""}
        await self.store.add_recommendation(doc)
        return {k: v for k, v in doc.items() if k != "userEmail"}

    async def recommendations_of(self, user_id: str) -> list[Document]:
        return await self.store.recommendations_of(user_id, self.settings.max_admin_list)

    async def all_recommendations(self) -> list[Document]:
        return await self.store.all_recommendations(self.settings.max_admin_list)

    async def decide(self, rec_id: str, admin_id: str, decision: Mapping[str, Any]) -> tuple[bool, Document]:
        """Approve (creating the channel) or reject a recommendation: (approved, the decided
        recommendation). Approving for a channel that exists already rejects it; approving again
        the recommendation that created the channel is a no-op success."""
        rec = await self.store.get_recommendation(rec_id)
        if rec is None:
            raise NotFound("Recommendation not found")
        decided = {"decidedAt": to_ms(self.clock.now()), "decidedBy": admin_id}
        if decision["status"] == "approved":
            channel = rules.approved_channel(decision, rec)
            if await self.channels.create_once(channel, source=f"recommendation:{rec_id}"):
                updated = await self.store.decide_recommendation(rec_id, {
                    **decided, "status": "approved", "channelId": channel["id"], "name": channel["name"],
                    "imageUrl": channel["image_url"], "link": channel["link"], "language": channel["language"],
                    "visibility": channel["visibility"]}, unset=("reason",))
                return True, _found(updated)
            reason = "Channel already exists"
        else:
            reason = decision.get("reason") or "No reason provided"
        updated = await self.store.decide_recommendation(rec_id, {**decided, "status": "rejected", "reason": reason})
        return False, _found(updated)

    # --- video error reports ----------------------------------------------------------------
    async def report(self, user: Principal, fields: Mapping[str, Any]) -> str:
        """A learner's report on a live video (`channelId`, `videoId`, ...); returns its id."""
        await self.limiter.hit("error-report", user.user_id, limit=self.settings.submissions_per_hour,
                               window_s=HOUR_S)
        if await self.catalog.get_video(fields["channelId"], fields["videoId"]) is None:
            raise NotFound("Video not found")
        email = user.email or ""
        name = await self.store.username_of(user.user_id) or email.split("@")[0]
        doc = {"id": str(uuid.uuid4()), **fields, "userEmail": email, "userName": name, "status": "pending",
               "timestamp": to_ms(self.clock.now()), "user_id": user.user_id}
        await self.store.add_report(doc)
        return str(doc["id"])

    async def reports_of(self, user_id: str, channel_id: str | None, video_id: str | None) -> list[Document]:
        return await self.store.reports_of(user_id, channel_id, video_id, self.settings.max_admin_list)

    async def all_reports(self) -> list[Document]:
        return await self.store.all_reports(self.settings.max_admin_list)

    async def handle_report(self, report_id: str, admin_id: str, status: str, admin_response: str | None) -> None:
        fields = rules.report_change(status, admin_response, admin_id, to_ms(self.clock.now()))
        if not await self.store.update_report(report_id, fields):
            raise NotFound("Video error report not found")


def _found(doc: Document | None) -> Document:
    if doc is None:  # deleted between the read and the decision
        raise NotFound("Recommendation not found")
    return doc
