"""Channels and videos in Mongo, designed for `_id` lookups (FerretDB scans everything else).

- `channels`: `_id` = channel id; `videos` holds the channel's video ids in upload order, so a
  channel's list is one `_id` lookup plus one `_id` lookup per video. A channel's description is an
  aggregate (`version`): each change carries `channel.updated` in its outbox (ds_common.versioned).
- `videos`: `_id` = "{channel}:{video}". A video is the aggregate whose events (`video.*`) sit in
  its outbox, written in the same single-document write as the change. A deleted video stays as a
  tombstone (`removed: true`) until its `video.removed` event is relayed, and is revived in place
  when the same video is uploaded again, its `seq` continuing.
- `_tseq` / `_tat` and `_rseq` / `_rat` order the transcript status and refinement projected from
  the transcripts service (one per-video sequence across its three event types and topics).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from ds_common.events.contracts import ChannelUpdated
from ds_common.events.envelope import Envelope
from ds_common.events.outbox import OutboxNudge, document_with_events, outbox_indexes, with_events
from ds_common.mongo import Document, DuplicateKeyError, IndexSpec, asc
from ds_common.versioned import Change, VersionedDocuments
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
CHANNEL_FIELDS = ("name", "image_url", "link", "language", "visibility")

EventFactory = Callable[[int], Envelope]  # sequence -> the event to store with the change
ChangeEvent = Callable[[Document, int], Envelope]  # (the changed video, sequence) -> its event
PublishOutcome = Literal["created", "duplicate"]


TranscriptAspect = Literal["status", "refinement"]
ASPECT_GUARDS: dict[TranscriptAspect, tuple[str, str]] = {"status": ("_tseq", "_tat"), "refinement": ("_rseq", "_rat")}


def channel_updated(doc: Mapping[str, Any]) -> ChannelUpdated:
    return ChannelUpdated(channel_id=doc["_id"], **{f: doc.get(f) or "" for f in CHANNEL_FIELDS})


class CatalogRepo:
    def __init__(self, db: AsyncDatabase[Document], nudge: OutboxNudge | None = None) -> None:
        self.channels = db[CHANNELS]
        self.videos = db[VIDEOS]
        self.channel_docs = VersionedDocuments(self.channels, producer="catalog", nudge=nudge)

    # --- channels ---------------------------------------------------------------------------
    async def list_channels(self, *, visibility: str | None, language: str | None, limit: int) -> list[Document]:
        query: dict[str, Any] = {}
        if visibility:
            query["visibility"] = visibility
        if language:
            query["language"] = language
        docs = await self.channels.find(query, {"_outbox": 0}).limit(limit).to_list()
        return sorted(docs, key=lambda d: (d.get("created_at") or EPOCH, d["_id"]))

    async def get_channel(self, channel_id: str) -> Document | None:
        return await self.channel_docs.get(channel_id)

    async def upsert_channel(self, fields: Mapping[str, Any], now: datetime) -> None:
        """Create or overwrite a channel's descriptive fields; its video list is kept."""
        described = {k: v for k, v in fields.items() if k != "id"}

        def decide(current: Document | None) -> Change | None:
            if current is not None and all(current.get(k) == v for k, v in described.items()):
                return None
            return Change(set={**described, "updated_at": now},
                          events=[channel_updated({**(current or {}), "_id": fields["id"], **described})])

        await self.channel_docs.mutate(fields["id"], decide, created={"videos": [], "created_at": now})

    async def create_channel_once(self, fields: Mapping[str, Any], now: datetime, *, source: str) -> bool:
        """Create a channel unless one exists; True also when `source` created it before (a retry)."""
        described = {k: v for k, v in fields.items() if k != "id"}

        def decide(current: Document | None) -> Change | None:
            if current is not None:
                return None
            return Change(set={**described, "updated_at": now, "source": source},
                          events=[channel_updated({"_id": fields["id"], **described})])

        written = await self.channel_docs.mutate(fields["id"], decide, created={"videos": [], "created_at": now})
        return written.changed or bool(written.document and written.document.get("source") == source)

    async def update_channel(self, channel_id: str, fields: Mapping[str, Any], now: datetime) -> bool:
        """Change some descriptive fields; False if there is no such channel."""
        def decide(current: Document | None) -> Change | None:
            if current is None or all(current.get(k) == v for k, v in fields.items()):
                return None
            return Change(set={**fields, "updated_at": now}, events=[channel_updated({**current, **fields})])

        return (await self.channel_docs.mutate(channel_id, decide)).document is not None

    async def remove_video_from_channel(self, channel_id: str, video_id: str) -> None:
        await self.channels.update_one({"_id": channel_id}, {"$pullAll": {"videos": [video_id]}})

    async def count_channels(self) -> int:
        return await self.channels.count_documents({})

    # --- videos -----------------------------------------------------------------------------
    async def get_video(self, channel_id: str, video_id: str) -> Document | None:
        doc = await self.videos.find_one({"_id": video_key(channel_id, video_id)})
        return None if doc is None or doc.get("removed") else doc

    async def videos_of(self, channel_id: str, video_ids: Sequence[str]) -> list[Document]:
        """The live videos among `video_ids`, in that order."""
        if not video_ids:
            return []
        # Concurrent pure `_id` reads rather than one `$in`: FerretDB evaluates only `{_id: x}` in
        # SQLite and decodes every document of the collection for anything else (about 2.5x slower
        # here with 2,000 videos); MongoDB serves both from the `_id` index.
        found = await asyncio.gather(*(self.videos.find_one({"_id": video_key(channel_id, v)}, {"_outbox": 0})
                                       for v in video_ids))
        return [d for d in found if d is not None and not d.get("removed")]

    async def live_videos(self, limit: int) -> list[Document]:
        """Every live video's counting fields (admin analytics: bounded)."""
        projection = {"channel_id": 1, "video_id": 1, "title": 1, "visibility": 1, "is_refined": 1}
        return await self.videos.find({"removed": False}, projection).limit(limit).to_list()

    async def public_videos(self, limit: int) -> list[Document]:
        projection = {"channel_id": 1, "video_id": 1, "title": 1, "link": 1}
        return await self.videos.find({"removed": False, "visibility": "public"}, projection).limit(limit).to_list()

    async def count_videos(self) -> int:
        return await self.videos.count_documents({"removed": False})

    async def video_states(self, keys: Sequence[str]) -> dict[str, Document]:
        """`removed` and `seq` of the stored videos among `keys`, tombstones included (one query)."""
        found = await self.videos.find({"_id": {"$in": list(keys)}}, {"removed": 1, "seq": 1}).to_list()
        return {d["_id"]: d for d in found}

    async def publish_video(self, channel_id: str, video_id: str, fields: Mapping[str, Any],
                            event: EventFactory, existing: Document | None) -> PublishOutcome:
        """Store a new video with its `video.published` event, or report a duplicate.

        `existing` is the video's state read before (from `video_states`); a race with a concurrent
        upload of the same video is caught by the insert or the compare-and-set on `seq`.
        """
        key = video_key(channel_id, video_id)
        if existing is not None and not existing.get("removed"):
            return "duplicate"
        seq = int(existing.get("seq", 0)) + 1 if existing else 1
        state = {**fields, "channel_id": channel_id, "video_id": video_id, "removed": False, "seq": seq,
                 "_tseq": -1, "_tat": EPOCH, "_rseq": -1, "_rat": EPOCH}
        if existing is None:
            try:
                await self.videos.insert_one(document_with_events({"_id": key, **state}, event(seq)))
            except DuplicateKeyError:
                return "duplicate"
            return "created"
        revived = await self.videos.update_one({"_id": key, "removed": True, "seq": seq - 1},
                                               with_events({"$set": state}, event(seq)))
        return "created" if revived.matched_count == 1 else "duplicate"

    async def add_videos_to_channel(self, channel_id: str, video_ids: Sequence[str]) -> None:
        await self.channels.update_one({"_id": channel_id}, {"$addToSet": {"videos": {"$each": list(video_ids)}}})

    async def change_video(self, channel_id: str, video_id: str, fields: Mapping[str, Any],
                           event: ChangeEvent) -> Document | None:
        """Apply `fields` to a live video with the event they cause; None if it does not exist.

        Compare-and-set on `seq`, so concurrent admin edits never reuse a sequence number.
        """
        key = video_key(channel_id, video_id)
        for _ in range(5):
            # A pure `_id` read (FerretDB answers only those without a scan), then compare-and-set.
            current = await self.videos.find_one({"_id": key}, {"_outbox": 0})
            if current is None or current.get("removed"):
                return None
            seq = int(current["seq"]) + 1
            changed = {**current, **fields, "seq": seq}
            update = with_events({"$set": {**fields, "seq": seq}}, event(changed, seq))
            result = await self.videos.update_one({"_id": key, "removed": False, "seq": seq - 1}, update)
            if result.matched_count == 1:
                return changed
        raise RuntimeError(f"video {key} kept changing under concurrent edits")

    async def remove_video(self, channel_id: str, video_id: str, now: datetime, event: EventFactory) -> bool:
        """Tombstone a live video with its `video.removed` event; False if there is none."""
        changed = await self.change_video(channel_id, video_id, {"removed": True, "removed_at": now},
                                          lambda _, seq: event(seq))
        return changed is not None

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
