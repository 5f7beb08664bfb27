"""Aggregates kept as one versioned document each, changed through one mechanism.

A change is: read the document, let a pure `decide(current)` say what changes and which events
that causes, then ONE conditional single-document write guarded by the version the decision was
made on, with the events embedded (the outbox, ds_common.events.outbox), so the state and its
events land together or not at all. A writer that lost the race reads again and decides again,
a bounded number of times; after the write the relay is nudged to publish the events at once.

Each event's `key` is the document id and its `sequence` the document's new version, so a
consumer applies one aggregate's events once and in order (`apply_once_by_sequence`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from ds_common.clock import Clock, SystemClock
from ds_common.errors import AppError, Conflict
from ds_common.events.envelope import Envelope, EventData, new_event
from ds_common.events.outbox import OUTBOX, PENDING, OutboxNudge, document_with_events, with_events
from ds_common.mongo import Document, DuplicateKeyError

DUPLICATE_KEY = 11000  # MongoDB's error code


@dataclass(frozen=True)
class Change:
    """What one write does: fields to set and unset, and the events it causes."""

    set: Mapping[str, Any] = field(default_factory=dict)
    unset: Sequence[str] = ()
    events: Sequence[EventData] = ()
    causation: Envelope | None = None  # the event this change reacts to, if any


Decide = Callable[[Document | None], Change | None]


@dataclass(frozen=True)
class Written:
    document: Document | None  # as written; as found when nothing changed (None: absent)
    changed: bool
    events: tuple[Envelope, ...] = ()


def conflict() -> AppError:
    """What a writer that kept losing the race answers by default (the caller may retry)."""
    return Conflict("The record is being changed by someone else; please retry")


class Documents(Protocol):
    """What use cases need of a collection of versioned documents (here on the store; in
    service-layer tests, ds_common.testing.kit.InMemoryDocuments)."""

    async def get(self, doc_id: Any, projection: Mapping[str, Any] | None = None) -> Document | None: ...

    async def mutate(self, doc_id: Any, decide: Decide, *,
                     created: Mapping[str, Any] | None = None) -> Written: ...

    async def create_many(self, new: Mapping[Any, Change]) -> set[Any]: ...


class VersionedDocuments:
    """The documents of one collection, each an aggregate with a version field."""

    def __init__(self, collection: AsyncCollection[Document], *, nudge: OutboxNudge | None = None,
                 clock: Clock | None = None, version_field: str = "version", attempts: int = 8,
                 busy: Callable[[], AppError] = conflict) -> None:
        self.collection = collection
        self.nudge = nudge
        self.clock = clock or SystemClock()
        self.version_field = version_field
        self.attempts = attempts
        self.busy = busy

    async def get(self, doc_id: Any, projection: Mapping[str, Any] | None = None) -> Document | None:
        """The document without its outbox (or only `projection`)."""
        return await self.collection.find_one({"_id": doc_id}, projection or {OUTBOX: 0, PENDING: 0})

    async def mutate(self, doc_id: Any, decide: Decide, *, created: Mapping[str, Any] | None = None) -> Written:
        """Apply `decide(current)` once; `created`: fields a new document starts with."""
        for attempt in range(self.attempts):
            current = await self.get(doc_id)
            change = decide(current)
            if change is None:
                return Written(current, False)
            version = int((current or {}).get(self.version_field, 0)) + 1
            events = tuple(new_event(e, key=str(doc_id), sequence=version, occurred_at=self.clock.now(),
                                     causation=change.causation) for e in change.events)
            fields = {**change.set, self.version_field: version}
            if current is None:
                document = {"_id": doc_id, **(created or {}), **fields}
                try:
                    await self.collection.insert_one(document_with_events(document, *events) if events else document)
                except DuplicateKeyError:
                    continue  # created meanwhile: decide again on what is there
            else:
                update: dict[str, Any] = {"$set": fields}
                if change.unset:
                    update["$unset"] = dict.fromkeys(change.unset, "")
                seen = current.get(self.version_field)
                guard = {"_id": doc_id, self.version_field: {"$exists": False} if seen is None else seen}
                result = await self.collection.update_one(guard, with_events(update, *events) if events else update)
                if result.matched_count == 0:
                    await asyncio.sleep(0.002 * attempt)  # lost the race: read again, decide again
                    continue
                document = {**{k: v for k, v in current.items() if k not in change.unset}, **fields}
            if events and self.nudge is not None:
                await self.nudge.nudge(self.collection.name, doc_id)
            return Written(document, True, events)
        raise self.busy()

    async def create_many(self, new: Mapping[Any, Change]) -> set[Any]:
        """Create several aggregates that do not exist yet, in one insert (a bulk upload: one round
        trip instead of a read and a write each). Returns the ids created; an id that exists
        already is left as it is (the caller decides on it with `mutate`)."""
        documents = []
        for doc_id, change in new.items():
            events = tuple(new_event(e, key=str(doc_id), sequence=1, occurred_at=self.clock.now(),
                                     causation=change.causation) for e in change.events)
            document = {"_id": doc_id, **change.set, self.version_field: 1}
            documents.append(document_with_events(document, *events) if events else document)
        if not documents:
            return set()
        try:
            await self.collection.insert_many(documents, ordered=False)
            created = set(new)
        except BulkWriteError as exc:  # some existed: the others were inserted
            failed = {documents[e["index"]]["_id"] for e in exc.details.get("writeErrors", [])
                      if e.get("code") == DUPLICATE_KEY}
            if len(failed) != len(exc.details.get("writeErrors", [])):
                raise
            created = set(new) - failed
        if self.nudge is not None and created:
            await self.nudge.nudge(self.collection.name, *created)
        return created
