"""Channels and videos in Mongo, designed for `_id` lookups (FerretDB scans everything else).

- `channels`: `_id` = channel id; `videos` holds the channel's video ids in upload order, so a
  channel's list is one `_id` lookup plus one `_id` lookup per video; `public_videos` and
  `refined_videos` the ids of those that are public and refined, kept by every write that changes
  them, so the random pick and the admin counts never read the videos collection. A channel's
  description is an aggregate (`version`, ds_common.versioned): each change carries
  `channel.updated` in its outbox.
- `videos`: `_id` = "{channel}:{video}". A video is an aggregate (`seq`) whose events (`video.*`)
  sit in its outbox, written in the same single-document write as the change. A deleted video
  stays as a tombstone (`removed: true`) and is revived in place when the same video is uploaded
  again, its `seq` continuing (the rules: ds_catalog.domain.videos).
- `_tseq` / `_tat` and `_rseq` / `_rat` order the transcript status and refinement projected from
  the transcripts service (one per-video sequence across its three event types and topics).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from ds_common.errors import AppError, Conflict
from ds_common.events.outbox import OUTBOX, PENDING, OutboxNudge, outbox_indexes
from ds_common.mongo import Document, IndexSpec, asc
from ds_common.versioned import VersionedDocuments
from pymongo.asynchronous.database import AsyncDatabase

from ds_catalog.domain.values import video_key

CHANNELS = "channels"
VIDEOS = "videos"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

INDEXES = [
    IndexSpec(CHANNELS, asc("visibility", "language")),
    IndexSpec(VIDEOS, asc("channel_id", "removed", "visibility")),
    *outbox_indexes(VIDEOS, CHANNELS),
]
RELAYED = [VIDEOS, CHANNELS]

TranscriptAspect = Literal["status", "refinement"]
ASPECT_GUARDS: dict[TranscriptAspect, tuple[str, str]] = {"status": ("_tseq", "_tat"), "refinement": ("_rseq", "_rat")}
# A (re)published video accepts any transcript state the transcripts service sends next.
TRANSCRIPT_GUARDS_RESET = {"_tseq": -1, "_tat": EPOCH, "_rseq": -1, "_rat": EPOCH}
_NO_OUTBOX = {OUTBOX: 0, PENDING: 0}


def video_busy() -> AppError:
    return Conflict("The video is being changed by someone else; please retry")


class CatalogRepo:
    """The two aggregates' documents (`channel_docs`, `video_docs`: get and mutate) and the
    queries the lists, the upload and the analytics need."""

    def __init__(self, db: AsyncDatabase[Document], nudge: OutboxNudge | None = None) -> None:
        self.channels = db[CHANNELS]
        self.videos = db[VIDEOS]
        self.channel_docs = VersionedDocuments(self.channels, nudge=nudge)
        self.video_docs = VersionedDocuments(self.videos, nudge=nudge, version_field="seq", busy=video_busy)

    # --- channels ---------------------------------------------------------------------------
    async def list_channels(self, *, visibility: str | None, language: str | None, limit: int) -> list[Document]:
        query: dict[str, Any] = {}
        if visibility:
            query["visibility"] = visibility
        if language:
            query["language"] = language
        docs = await self.channels.find(query, _NO_OUTBOX).limit(limit).to_list()
        return sorted(docs, key=lambda d: (d.get("created_at") or EPOCH, d["_id"]))

    async def add_videos_to_channel(self, channel_id: str, video_ids: Sequence[str],
                                    public_ids: Sequence[str] = ()) -> None:
        await self.channels.update_one({"_id": channel_id}, {"$addToSet": {
            "videos": {"$each": list(video_ids)}, "public_videos": {"$each": list(public_ids)}}})

    async def remove_video_from_channel(self, channel_id: str, video_id: str) -> None:
        await self.channels.update_one({"_id": channel_id}, {"$pullAll": {
            "videos": [video_id], "public_videos": [video_id], "refined_videos": [video_id]}})

    async def mark_in_channel(self, channel_id: str, video_id: str, listed: Literal["public", "refined"],
                              present: bool) -> None:
        """Keep the channel's list of its public (or refined) videos in step with a video's change."""
        change = "$addToSet" if present else "$pull"
        await self.channels.update_one({"_id": channel_id}, {change: {f"{listed}_videos": video_id}})

    # --- videos -----------------------------------------------------------------------------
    async def get_video(self, channel_id: str, video_id: str) -> Document | None:
        """A live video (tombstones are not videos)."""
        doc = await self.video_docs.get(video_key(channel_id, video_id))
        return None if doc is None or doc.get("removed") else doc

    async def videos_of(self, channel_id: str, video_ids: Sequence[str]) -> list[Document]:
        """The live videos among `video_ids`, in that order."""
        found = await self._by_id([video_key(channel_id, v) for v in video_ids], _NO_OUTBOX)
        return [d for d in found if d is not None and not d.get("removed")]

    async def video_titles(self, keys: Sequence[str]) -> list[Document | None]:
        return await self._by_id(keys, {"title": 1})

    async def video_states(self, keys: Sequence[str]) -> dict[str, Document]:
        """`removed` and `seq` of the stored videos among `keys`, tombstones included."""
        found = await self._by_id(keys, {"removed": 1, "seq": 1})
        return {d["_id"]: d for d in found if d is not None}

    async def _by_id(self, keys: Sequence[str], projection: Mapping[str, Any]) -> list[Document | None]:
        # Concurrent pure `_id` reads rather than one `$in`: FerretDB evaluates only `{_id: x}` in
        # SQLite (a hit or a miss alike) and decodes every document of the collection for anything
        # else; MongoDB serves both from the `_id` index.
        if not keys:
            return []
        return list(await asyncio.gather(*(self.videos.find_one({"_id": k}, projection) for k in keys)))

    async def apply_transcript_state(self, channel_id: str, video_id: str, sequence: int, at: datetime,
                                     fields: Mapping[str, Any], *, aspect: TranscriptAspect) -> bool:
        """Project one aspect of the transcripts service's state ("status": availability, count,
        error; "refinement": the refined flag): per aspect, the newer (sequence, time) wins, so a
        refinement is kept when a later status event of another topic overtook it. Never creates
        a video."""
        seq, when = ASPECT_GUARDS[aspect]
        newer = {"$or": [{seq: {"$exists": False}}, {seq: {"$lt": sequence}}, {seq: sequence, when: {"$lt": at}}]}
        result = await self.videos.update_one({"_id": video_key(channel_id, video_id), **newer},
                                              {"$set": {**fields, seq: sequence, when: at}})
        return result.modified_count == 1
