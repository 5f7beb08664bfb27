"""Learner submissions (channel recommendations, video error reports), popularity and user names.

Submissions have UUID `_id`s (legacy W21: millisecond ids collided). Owner reads filter by
`user_id` and admin reads sort by time; both are indexed on MongoDB and bounded everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ds_common.events.consumer import apply_once_by_event_id, apply_once_by_sequence
from ds_common.mongo import Document, IndexSpec, asc
from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from ds_catalog.domain.values import video_key

RECOMMENDATIONS = "channel_recommendations"
REPORTS = "video_error_reports"
VIDEO_STATS = "video_stats"
USERS = "users"

INDEXES = [
    IndexSpec(RECOMMENDATIONS, asc("user_id", "submittedAt")),
    IndexSpec(RECOMMENDATIONS, asc("submittedAt")),
    IndexSpec(REPORTS, asc("user_id", "timestamp")),
    IndexSpec(REPORTS, asc("timestamp")),
    IndexSpec(VIDEO_STATS, asc("video_key")),
]

_HIDDEN = {"_id": 0, "user_id": 0}


class SubmissionsRepo:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.recommendations = db[RECOMMENDATIONS]
        self.reports = db[REPORTS]
        self.stats = db[VIDEO_STATS]
        self.users = db[USERS]

    # --- channel recommendations ------------------------------------------------------------
    async def add_recommendation(self, doc: Document) -> None:
        await self.recommendations.insert_one({"_id": doc["id"], **doc})

    async def recommendations_of(self, user_id: str, limit: int) -> list[Document]:
        cursor = self.recommendations.find({"user_id": user_id}, _HIDDEN | {"userEmail": 0})
        return await cursor.sort("submittedAt", DESCENDING).limit(limit).to_list()

    async def all_recommendations(self, limit: int) -> list[Document]:
        cursor = self.recommendations.find({}, _HIDDEN)
        return await cursor.sort("submittedAt", DESCENDING).limit(limit).to_list()

    async def get_recommendation(self, rec_id: str) -> Document | None:
        return await self.recommendations.find_one({"_id": rec_id})

    async def decide_recommendation(self, rec_id: str, fields: Mapping[str, Any],
                                    unset: tuple[str, ...] = ()) -> Document | None:
        update: dict[str, Any] = {"$set": dict(fields)}
        if unset:
            update["$unset"] = {name: "" for name in unset}
        # No projection here: FerretDB does not implement it for findAndModify; views drop internals.
        return await self.recommendations.find_one_and_update({"_id": rec_id}, update,
                                                              return_document=ReturnDocument.AFTER)

    # --- video error reports ----------------------------------------------------------------
    async def add_report(self, doc: Document) -> None:
        await self.reports.insert_one({"_id": doc["id"], **doc})

    async def reports_of(self, user_id: str, channel_id: str | None, video_id: str | None,
                         limit: int) -> list[Document]:
        query: dict[str, Any] = {"user_id": user_id}
        if channel_id:
            query["channelId"] = channel_id
        if video_id:
            query["videoId"] = video_id
        return await self.reports.find(query, _HIDDEN).sort("timestamp", DESCENDING).limit(limit).to_list()

    async def all_reports(self, limit: int) -> list[Document]:
        return await self.reports.find({}, _HIDDEN).sort("timestamp", DESCENDING).limit(limit).to_list()

    async def update_report(self, report_id: str, fields: Mapping[str, Any]) -> bool:
        result = await self.reports.update_one({"_id": report_id}, {"$set": dict(fields)})
        return result.matched_count == 1

    # --- popularity (video.started) ---------------------------------------------------------
    async def record_start(self, event_id: str, channel_id: str, video_id: str, when: datetime) -> bool:
        """Count a learner's first start of a video in a cycle, once per event id.

        One document per video and month keeps the applied-id list of each document bounded.
        """
        key = video_key(channel_id, video_id)
        month = when.strftime("%Y-%m")
        return await apply_once_by_event_id(
            self.stats, f"{key}:{month}", event_id,
            {"$inc": {"starts": 1},
             "$set": {"video_key": key, "channel_id": channel_id, "video_id": video_id, "month": month}})

    async def starts_by_video(self) -> dict[str, int]:
        cursor = await self.stats.aggregate([{"$group": {"_id": "$video_key", "starts": {"$sum": "$starts"}}}])
        return {row["_id"]: int(row["starts"]) async for row in cursor}

    # --- user names (user.registered / user.updated) ----------------------------------------
    async def remember_user(self, user_id: str, sequence: int, email: str, username: str) -> None:
        await apply_once_by_sequence(self.users, user_id, sequence, {"$set": {"email": email, "username": username}})

    async def username_of(self, user_id: str) -> str | None:
        doc = await self.users.find_one({"_id": user_id}, {"username": 1})
        return doc.get("username") if doc else None
