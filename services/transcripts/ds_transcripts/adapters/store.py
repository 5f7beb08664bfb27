"""The transcripts collection: one versioned document per video, `_id = "<channel_id>:<video_id>"`.

Every write goes through ds_common.versioned: read → decide → update conditioned on `version`
(two editors never lose each other's change), with the events it causes in the same
single-document write (the outbox); `version` is the aggregate's sequence in those events.

Beside it, two small collections that the store's writes keep (so no query ever reads the big
documents, which FerretDB would decode one by one): `fetch_queue`, the videos pending a fetch and
when each is due, and `channel_videos`, each channel's videos that are not removed. Each is written
after its document; a crash in between is repaired by the consumer's start-up check
(`reconcile`), and a pending video is fetched anyway when someone reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ds_common.clock import Clock, SystemClock
from ds_common.errors import AppError, Conflict
from ds_common.events.outbox import OUTBOX, PENDING, OutboxNudge, outbox_indexes
from ds_common.mongo import Document, IndexSpec, asc, paced_scan
from ds_common.versioned import Change, Decide, Documents, VersionedDocuments, Written
from pymongo.asynchronous.database import AsyncDatabase

TRANSCRIPTS = "transcripts"
FILTERS = "filters"
FETCH_QUEUE = "fetch_queue"  # _id = "<channel>:<video>", `due`: when to fetch it
CHANNEL_VIDEOS = "channel_videos"  # _id = channel id, `videos`: its video ids (not removed)

INDEXES: list[IndexSpec] = [
    IndexSpec(FETCH_QUEUE, asc("due")),
    *outbox_indexes(TRANSCRIPTS),
]
# Heavy arrays a summary or a status check never needs.
LIGHT = {"transcript": 0, "original_transcript": 0, "source_transcript": 0, OUTBOX: 0, PENDING: 0}
ATTEMPTS = 8


def doc_id(channel_id: str, video_id: str) -> str:
    return f"{channel_id}:{video_id}"


def busy() -> AppError:
    return Conflict("The transcript is being changed by someone else; please retry")


class TranscriptStore:
    """`documents`: the versioned documents (on Mongo, or ds_common.testing.kit.InMemoryDocuments in
    service-layer tests); `collection`: the same collection for the queries over many videos."""

    def __init__(self, documents: Documents, db: AsyncDatabase[Document] | None = None, *,
                 clock: Clock | None = None) -> None:
        self.documents = documents
        self.db = db
        self.clock = clock or SystemClock()

    @classmethod
    def on(cls, db: AsyncDatabase[Document], nudge: OutboxNudge | None = None,
           clock: Clock | None = None) -> TranscriptStore:
        documents = VersionedDocuments(db[TRANSCRIPTS], nudge=nudge, clock=clock, attempts=ATTEMPTS, busy=busy)
        return cls(documents, db, clock=clock)

    async def get(self, channel_id: str, video_id: str, *, light: bool = False) -> Document | None:
        return await self.documents.get(doc_id(channel_id, video_id), LIGHT if light else None)

    async def mutate(self, channel_id: str, video_id: str, decide: Decide) -> Written:
        """Apply `decide(current)`; a new document starts with its ids and `created_at`, and every
        write stamps `updated_at`."""
        now = self.clock.now()
        before: list[str | None] = [None]  # the status the winning decision saw

        def stamped(current: Document | None) -> Change | None:
            before[0] = None if current is None else current.get("status")
            change = decide(current)
            return None if change is None else replace(change, set={**change.set, "updated_at": now})

        written = await self.documents.mutate(doc_id(channel_id, video_id), stamped,
                                              created={"channel_id": channel_id, "video_id": video_id,
                                                       "created_at": now})
        if written.changed and written.document is not None:
            await self._follow(written.document, before[0])
        return written

    async def _follow(self, doc: Document, before: str | None) -> None:
        """Keep `fetch_queue` and `channel_videos` in step with a document just written."""
        if self.db is None:
            return
        status, key = doc.get("status"), doc["_id"]
        if status == "pending":
            await self.db[FETCH_QUEUE].update_one({"_id": key}, {"$set": {
                "channel_id": doc["channel_id"], "video_id": doc["video_id"],
                "due": doc.get("retry_at") or self.clock.now()}}, upsert=True)
        elif before == "pending":
            await self.db[FETCH_QUEUE].delete_one({"_id": key})
        live_before, live = before not in (None, "removed"), status != "removed"
        if live != live_before:
            change = "$addToSet" if live else "$pull"
            await self.db[CHANNEL_VIDEOS].update_one({"_id": doc["channel_id"]}, {change: {"videos": doc["video_id"]}},
                                                     upsert=live)

    def _queries(self) -> AsyncDatabase[Document]:
        if self.db is None:
            raise RuntimeError("an in-memory transcript store answers no queries")
        return self.db

    async def channel_summaries(self, channel_id: str, limit: int = 2_000) -> list[Document]:
        """The channel's videos that are not removed, without their transcripts, by video id."""
        listed = await self._queries()[CHANNEL_VIDEOS].find_one({"_id": channel_id})
        ids = sorted((listed or {}).get("videos", []))[:limit]
        docs = await asyncio.gather(*(self.get(channel_id, video_id, light=True) for video_id in ids))
        return [d for d in docs if d is not None and d.get("status") != "removed"]

    async def due_for_fetch(self, now: Any, limit: int = 50) -> list[Document]:
        """Pending videos whose fetch is due (`fetch_queue` holds only the pending ones)."""
        return await self._queries()[FETCH_QUEUE].find({"due": {"$lte": now}}).limit(limit).to_list()

    async def reconcile(self) -> int:
        """The start-up check behind the two small collections: every document is read once,
        paced (ds_common.mongo.paced_scan), and what a crash between two writes left out is put
        back (one write per channel and page). Returns the documents that are not removed."""
        db, live = self._queries(), 0
        projection = {"channel_id": 1, "video_id": 1, "status": 1, "retry_at": 1}
        async for page in paced_scan(db[TRANSCRIPTS], projection):
            by_channel: dict[str, list[str]] = {}
            for doc in page:
                if doc.get("status") == "removed":
                    continue
                live += 1
                by_channel.setdefault(doc["channel_id"], []).append(doc["video_id"])
                if doc.get("status") == "pending":
                    await self._follow(doc, "pending")  # its queue entry (the channel's list: below)
            for channel_id, video_ids in by_channel.items():
                await db[CHANNEL_VIDEOS].update_one({"_id": channel_id},
                                                    {"$addToSet": {"videos": {"$each": video_ids}}}, upsert=True)
        return live


class FilterStore:
    """Saved filters per channel: `_id = channel_id`."""

    def __init__(self, db: AsyncDatabase[Document], clock: Clock | None = None) -> None:
        self.coll = db[FILTERS]
        self.clock = clock or SystemClock()

    async def get(self, channel_id: str) -> list[str]:
        doc = await self.coll.find_one({"_id": channel_id})
        return list((doc or {}).get("filters", []))

    async def save(self, channel_id: str, filters: Iterable[str]) -> None:
        await self.coll.update_one({"_id": channel_id},
                                   {"$set": {"filters": list(filters), "updated_at": self.clock.now()}}, upsert=True)
