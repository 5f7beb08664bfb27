"""The transcripts collection: one document per video, `_id = "<channel_id>:<video_id>"`.

Every write is read → decide → conditional update on `version` (optimistic concurrency, so two
editors never lose each other's change), and the events it causes ride in the same single-document
write (the outbox). `version` is the aggregate's sequence in those events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ds_common.clock import Clock, SystemClock
from ds_common.errors import Conflict
from ds_common.events.envelope import Envelope, EventData, new_event
from ds_common.events.outbox import document_with_events, outbox_indexes, strip_outbox, with_events
from ds_common.mongo import Document, DuplicateKeyError, IndexSpec, asc
from pymongo.asynchronous.database import AsyncDatabase

from ds_transcripts import SERVICE

TRANSCRIPTS = "transcripts"
FILTERS = "filters"
ACCESS = "access"
ENTITLEMENTS = "entitlements"

INDEXES: list[IndexSpec] = [
    IndexSpec(TRANSCRIPTS, asc("channel_id", "video_id")),
    IndexSpec(TRANSCRIPTS, asc("status", "retry_at")),
    *outbox_indexes(TRANSCRIPTS),
]
# Heavy arrays a summary or a status check never needs.
LIGHT = {"transcript": 0, "original_transcript": 0, "source_transcript": 0, "_outbox": 0}


def doc_id(channel_id: str, video_id: str) -> str:
    return f"{channel_id}:{video_id}"


@dataclass
class Change:
    """What one write does: fields to set and unset, and the events it causes."""

    set: dict[str, Any] = field(default_factory=dict)
    unset: Sequence[str] = ()
    events: Sequence[EventData] = ()
    causation: Envelope | None = None


Decide = Callable[[Document | None], Change | None]


class TranscriptStore:
    def __init__(self, db: AsyncDatabase[Document], clock: Clock | None = None) -> None:
        self.db = db
        self.coll = db[TRANSCRIPTS]
        self.clock = clock or SystemClock()

    async def get(self, channel_id: str, video_id: str, *, light: bool = False) -> Document | None:
        return await self.coll.find_one({"_id": doc_id(channel_id, video_id)}, LIGHT if light else None)

    async def mutate(self, channel_id: str, video_id: str, decide: Decide, *, attempts: int = 8) -> Document | None:
        """Apply `decide(current)`; returns the document as written (or as found, if no change)."""
        key = doc_id(channel_id, video_id)
        for _ in range(attempts):
            current = await self.coll.find_one({"_id": key})
            change = decide(strip_outbox(current) if current else None)
            if change is None:
                return current
            version = int((current or {}).get("version", 0)) + 1
            events = [new_event(e, key=key, sequence=version, producer=SERVICE, causation=change.causation)
                      for e in change.events]
            fields = {**change.set, "version": version, "updated_at": self.clock.now()}
            if current is None:
                created = {"_id": key, "channel_id": channel_id, "video_id": video_id,
                           "created_at": fields["updated_at"], **fields}
                try:
                    await self.coll.insert_one(document_with_events(created, *events) if events else created)
                except DuplicateKeyError:
                    continue
                return created
            update: dict[str, Any] = {"$set": fields}
            if change.unset:
                update["$unset"] = {name: "" for name in change.unset}
            result = await self.coll.update_one({"_id": key, "version": current.get("version", 0)},
                                                with_events(update, *events) if events else update)
            if result.matched_count == 1:
                written = {k: v for k, v in strip_outbox(current).items() if k not in change.unset}
                return {**written, **fields}
        raise Conflict("The transcript is being changed by someone else; please retry")

    async def channel_summaries(self, channel_id: str, limit: int = 2_000) -> list[Document]:
        cursor = self.coll.find({"channel_id": channel_id, "status": {"$ne": "removed"}}, LIGHT)
        return await cursor.sort("video_id", 1).limit(limit).to_list()

    async def due_for_fetch(self, now: Any, limit: int = 50) -> list[Document]:
        cursor = self.coll.find({"status": "pending", "retry_at": {"$lte": now}}, {"channel_id": 1, "video_id": 1})
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
