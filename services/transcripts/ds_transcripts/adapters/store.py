"""The transcripts collection: one versioned document per video, `_id = "<channel_id>:<video_id>"`.

Every write goes through ds_common.versioned: read → decide → update conditioned on `version`
(two editors never lose each other's change), with the events it causes in the same
single-document write (the outbox); `version` is the aggregate's sequence in those events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ds_common.clock import Clock, SystemClock
from ds_common.errors import AppError, Conflict
from ds_common.events.outbox import OUTBOX, PENDING, OutboxNudge, outbox_indexes
from ds_common.mongo import Document, IndexSpec, asc
from ds_common.versioned import Change, Decide, Documents, VersionedDocuments, Written
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

TRANSCRIPTS = "transcripts"
FILTERS = "filters"

INDEXES: list[IndexSpec] = [
    IndexSpec(TRANSCRIPTS, asc("channel_id", "video_id")),
    IndexSpec(TRANSCRIPTS, asc("status", "retry_at")),
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

    def __init__(self, documents: Documents, collection: AsyncCollection[Document] | None = None, *,
                 clock: Clock | None = None) -> None:
        self.documents = documents
        self.collection = collection
        self.clock = clock or SystemClock()

    @classmethod
    def on(cls, db: AsyncDatabase[Document], nudge: OutboxNudge | None = None,
           clock: Clock | None = None) -> TranscriptStore:
        collection = db[TRANSCRIPTS]
        documents = VersionedDocuments(collection, nudge=nudge, clock=clock, attempts=ATTEMPTS, busy=busy)
        return cls(documents, collection, clock=clock)

    async def get(self, channel_id: str, video_id: str, *, light: bool = False) -> Document | None:
        return await self.documents.get(doc_id(channel_id, video_id), LIGHT if light else None)

    async def mutate(self, channel_id: str, video_id: str, decide: Decide) -> Written:
        """Apply `decide(current)`; a new document starts with its ids and `created_at`, and every
        write stamps `updated_at`."""
        now = self.clock.now()

        def stamped(current: Document | None) -> Change | None:
            change = decide(current)
            return None if change is None else replace(change, set={**change.set, "updated_at": now})

        return await self.documents.mutate(doc_id(channel_id, video_id), stamped,
                                           created={"channel_id": channel_id, "video_id": video_id,
                                                    "created_at": now})

    def _queries(self) -> AsyncCollection[Document]:
        if self.collection is None:
            raise RuntimeError("an in-memory transcript store answers no queries")
        return self.collection

    async def channel_summaries(self, channel_id: str, limit: int = 2_000) -> list[Document]:
        cursor = self._queries().find({"channel_id": channel_id, "status": {"$ne": "removed"}}, LIGHT)
        return await cursor.sort("video_id", 1).limit(limit).to_list()

    async def due_for_fetch(self, now: Any, limit: int = 50) -> list[Document]:
        cursor = self._queries().find({"status": "pending", "retry_at": {"$lte": now}},
                                      {"channel_id": 1, "video_id": 1})
        return await cursor.limit(limit).to_list()


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
