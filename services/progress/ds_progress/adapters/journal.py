"""Progress saves: a group-committed journal, compacted into one document per (user, video).

Why not one `$set` per save: on the test store (FerretDB/SQLite) every update or delete scans its
collection and write commands run one at a time server-wide, so a per-save update costs 5-50 ms
and caps the service far below the autosave load. An insert is cheap and one insert command is one
SQLite transaction. So a save is appended to the journal: saves that arrive while a journal write
is in flight go together in the next one (group commit), and each request is answered only after
the document holding its save is stored (durable). The batch document is also the event record:
its `practice.recorded` events are written in the same single-document insert.

The compactor (a loop in the consumer process) is the journal's relay and its compaction: oldest
batches first, it publishes their events (acks=all), folds their saves into the per-video progress
documents with partial `$set`s (last write wins per input), then deletes the batches. A crash
anywhere repeats the round: events are published again (consumers are idempotent) and the same
`$set`s are applied again in the same order. Two journal scans per round instead of two per batch
(the generic outbox relay marks each document), which is what keeps FerretDB up with the load.
Readers merge the saves still in the journal.

Once it has caught up, the compactor starts a round at most every `round_s` (1 s): a round
costs one update per progress document it touches, however many saves it folds into it, so
pacing the rounds makes a learner's autosaves within that time one store write. Events and
compacted documents lag the saves by up to that much; reads do not, as they merge the journal.

A batch's saves and events are stored as one compressed JSON payload (`z`), beside the learner
ids and progress keys that readers query (`u`, `k`): the store then handles one value per batch
instead of some thirty per save, which halved FerretDB's cost of a journal write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import Binary
from ds_common.cache import DocumentCache
from ds_common.events.envelope import Envelope
from ds_common.events.kafka import EventPublisher
from ds_common.events.outbox import OutboxNudge
from ds_common.mongo import Document, DuplicateKeyError
from ds_common.waiting import unless_stopped
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ds_progress.adapters.collections import JOURNAL, progress_collection

logger = logging.getLogger("ds.progress.journal")
MAX_PER_LEARNER = 2000  # progress entries a list view reads per learner
_counter = itertools.count()


def progress_key(user_id: str, channel_id: str, video_id: str) -> str:
    """The `_id` of a learner's progress document for a video (and its journal saves' `k`)."""
    return f"{user_id}:{channel_id}:{video_id}"


def batch_id() -> str:
    """Sortable by time across API processes (compaction applies batches in this order)."""
    return f"{time.time_ns():020d}-{os.getpid():07d}-{next(_counter) % 1_000_000:06d}"


class JournalWriter:
    def __init__(self, db: AsyncDatabase[Document], *, nudge: OutboxNudge | None = None, max_batch: int = 500,
                 gather_s: float = 0.001) -> None:
        self.collection = db[JOURNAL]
        self.nudge = nudge  # wakes the compactor (journal_nudge)
        self.max_batch = max_batch
        # Under load, wait this long for more saves before a write: fewer, larger journal
        # documents mean fewer compaction reads and deletes per save. Idle, a save goes at once.
        # Short (1 ms): the saves that arrive during a write already make the next batch, and
        # each save waits for its batch (5 ms cost autosave 8% of its throughput at 64 clients).
        self.gather_s = gather_s
        self._pending: list[tuple[Document, Envelope | None, asyncio.Future[None]]] = []
        self._leader: asyncio.Task[None] | None = None

    async def append(self, save: Document, event: Envelope | None) -> None:
        """Store `save` and its event durably; returns once the batch holding it is written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((save, event, done))
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        first = True
        while self._pending:
            if not first and len(self._pending) < self.max_batch:
                await asyncio.sleep(self.gather_s)
            first = False
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            events = [e.to_document() for _, e, _ in batch if e is not None]
            try:
                await self.collection.insert_one(batch_document([s for s, _, _ in batch], events))
            except Exception as exc:
                logger.warning("journal write failed for %d saves", len(batch), exc_info=True)
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)
            if self.nudge is not None:  # after the answers: a save never waits for it
                await self.nudge.nudge(JOURNAL)


def batch_document(saves: list[Document], events: list[Document]) -> Document:
    """One journal document: the batch's saves and events compressed together, and what readers query."""
    payload = zlib.compress(orjson.dumps({"saves": saves, "events": events}), 1)
    return {"_id": batch_id(), "u": [s["u"] for s in saves], "k": [s["k"] for s in saves], "z": Binary(payload),
            "created_at": datetime.now(UTC)}


def batch_contents(document: Document) -> tuple[list[Document], list[Document]]:
    """The saves and events of a journal document."""
    contents = orjson.loads(zlib.decompress(document["z"]))
    return contents["saves"], contents["events"]


def apply_save(state: Document, save: Document) -> None:
    """Fold one journal save into a progress state (the shape of a progress document)."""
    inputs = state.setdefault("input", {})
    inputs.update(save.get("in") or {})
    state.update(user_id=save["u"], channel_id=save["c"], video_id=save["v"], current_time=save["t"],
                 completion=save["p"], last_save_ms=save["at"])
    for field, value in (save.get("h") or {}).items():
        state[field] = value


def save_update(save: Document) -> dict[str, Any]:
    """The partial update one save makes to its progress document."""
    fields: dict[str, Any] = {f"input.{idx}": text for idx, text in (save.get("in") or {}).items()}
    fields.update(user_id=save["u"], channel_id=save["c"], video_id=save["v"], current_time=save["t"],
                  completion=save["p"], last_save_ms=save["at"], **(save.get("h") or {}))
    return fields


IDLE_WAIT_S = 30.0  # an idle compactor's longest sleep without a nudge


def journal_nudge(redis: Redis, scope: str) -> OutboxNudge:
    """How the API processes wake the compactor after a journal write (`scope`: the service and
    its database, as for the outbox's nudge, which this must not share)."""
    return OutboxNudge(redis, f"{scope}:journal")


class Compactor:
    def __init__(self, db: AsyncDatabase[Document], publisher: EventPublisher, *, batch_size: int = 200,
                 round_s: float = 1.0, nudge: OutboxNudge | None = None) -> None:
        self.db = db
        self.journal = db[JOURNAL]
        self.publisher = publisher
        self.nudge = nudge
        self.batch_size = batch_size
        self.round_s = round_s

    async def compact_once(self) -> int:
        docs = await self.journal.find({}).sort("_id", 1).limit(self.batch_size).to_list()
        if not docs:
            return 0
        batches = [batch_contents(d) for d in docs]
        await self.publisher.publish([Envelope.model_validate(e) for _, events in batches for e in events])
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for saves, _ in batches:
            for save in saves:
                merged.setdefault((progress_collection(save["u"]), save["k"]), {}).update(save_update(save))
        for (collection, key), fields in merged.items():
            await self.db[collection].update_one({"_id": key}, {"$set": fields}, upsert=True)
        await self.journal.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
        return len(docs)

    async def run(self, stop: asyncio.Event) -> None:
        """A round every `round_s` while there are saves (so a learner's saves within it cost one
        store update); with none, it sleeps until an API process's nudge says one was written (or
        IDLE_WAIT_S passes), so an idle system is not asked every second."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            compacted = await self.compact_once()
            if compacted >= self.batch_size:
                continue  # behind: no pause
            if compacted == 0 and self.nudge is not None:
                await self._wait_for_nudge(stop)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, started + self.round_s - loop.time()))

    async def _wait_for_nudge(self, stop: asyncio.Event) -> None:
        assert self.nudge is not None
        try:
            await unless_stopped(stop, self.nudge.wait(IDLE_WAIT_S))
        except RedisError:  # Redis unavailable: poll instead
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.round_s)


class ProgressReader:
    """Progress as stored: compacted documents plus the journal saves not applied yet; and each
    learner's listing (the list views' fields, without the typed text) through a Redis copy."""

    def __init__(self, db: AsyncDatabase[Document], listings: DocumentCache) -> None:
        self.db = db
        self.journal = db[JOURNAL]
        self.listings = listings

    async def _pending(self, query: Document) -> list[Document]:
        # Read before the documents: a batch applied in between is then folded twice (harmless).
        docs = await self.journal.find(query, {"z": 1}).sort("_id", 1).to_list()
        return [s for d in docs for s in batch_contents(d)[0]]

    async def one(self, user_id: str, key: str) -> Document | None:
        pending = [s for s in await self._pending({"k": key}) if s["k"] == key]
        state = await self.db[progress_collection(user_id)].find_one({"_id": key})
        if state is None and not pending:
            return None
        state = state or {"_id": key}
        for save in pending:
            apply_save(state, save)
        return state

    async def start(self, user_id: str, channel_id: str, video_id: str, now_ms: int) -> None:
        """The empty entry register_dictation creates when there is none (the legacy contract)."""
        with contextlib.suppress(DuplicateKeyError):
            await self.db[progress_collection(user_id)].insert_one({
                "_id": f"{user_id}:{channel_id}:{video_id}", "user_id": user_id, "channel_id": channel_id,
                "video_id": video_id, "input": {}, "current_time": now_ms, "completion": 0})
        await self.listings.forget(user_id)

    async def of_user(self, user_id: str, *, limit: int = MAX_PER_LEARNER) -> list[Document]:
        pending = [s for s in await self._pending({"u": user_id}) if s["u"] == user_id]
        found = await self.db[progress_collection(user_id)].find({"user_id": user_id}).limit(limit).to_list()
        states = {d["_id"]: d for d in found}
        for save in pending:
            apply_save(states.setdefault(save["k"], {"_id": save["k"]}), save)
        return list(states.values())[:limit]

    async def listing(self, user_id: str, *, channel_id: str | None = None) -> list[Document]:
        """The learner's videos (of one channel, if given) as the list views show them."""
        listing = await self.listings.get(user_id, self._load_listings) or {}
        entries: list[Document] = listing.get("videos", [])
        return [e for e in entries if channel_id is None or e["channel_id"] == channel_id]

    async def _load_listings(self, user_ids: list[str]) -> dict[str, Document]:
        return {user_id: {"videos": [listed(state) for state in await self.of_user(user_id)]} for user_id in user_ids}


def listed(state: Document) -> Document:
    """A progress state as the list views show it; `typed`: whether any text was saved."""
    return {"channel_id": state["channel_id"], "video_id": state["video_id"], "completion": state.get("completion", 0),
            "last_save_ms": state.get("last_save_ms", 0), "typed": bool(state.get("input")),
            **{f: state[f] for f in ("channel_name", "video_title", "video_link") if f in state}}
