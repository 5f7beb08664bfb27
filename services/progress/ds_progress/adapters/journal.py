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

Order across API replicas: a batch's id is its writer's clock when the batch was formed, so with
several API processes a batch can be stored after a later one (formed elsewhere) was compacted.
Each progress document keeps `js`, the newest batch folded into it; a batch older than that (a
late commit) only fills the inputs the document lacks, and never takes back a newer save's values
(`apply_save`, used by the compactor and the readers alike). Sequential saves of one video (the
front end's) are always ordered: the second is received after the first was stored.

Once it has caught up, the compactor starts a round at most every `round_s` (1 s): a round
costs one update per progress document it touches, however many saves it folds into it, so
pacing the rounds makes a learner's autosaves within that time one store write. Events and
compacted documents lag the saves by up to that much; reads do not, as they merge the journal.

A batch's saves and events are stored as one compressed JSON payload (`z`), beside the learner
ids and progress keys that readers query (`u`, `k`): the store then handles one value per batch
instead of some thirty per save, which halved FerretDB's cost of a journal write.

The list views (a channel's badges, all-progress) read each learner's listing document
(`listings`, one per learner: per video its completion, last save, whether anything was typed,
the names the client sent), which the compactor keeps with the same round's fold (one write per
learner), plus the journal's pending saves: never the progress documents themselves.
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
from ds_common.lease import Lease
from ds_common.mongo import Document, DuplicateKeyError
from ds_common.waiting import unless_stopped
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ds_progress.adapters.collections import JOURNAL, LISTINGS, progress_collection

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


def apply_save(state: Document, save: Document, batch: str) -> dict[str, Any]:
    """Fold one save of journal batch `batch` into a progress state (the shape of a progress
    document); returns the fields it set (inputs dotted, as a partial update). A save of a batch
    older than the newest one the state holds (`js`) only fills the inputs the state lacks."""
    inputs = state.setdefault("input", {})
    if batch < state.get("js", ""):  # a late commit: what the state has is newer
        filled = {idx: text for idx, text in (save.get("in") or {}).items() if idx not in inputs}
        inputs.update(filled)
        return {f"input.{idx}": text for idx, text in filled.items()}
    fields = save_update(save)
    inputs.update(save.get("in") or {})
    state.update({f: v for f, v in fields.items() if not f.startswith("input.")}, js=batch)
    return {**fields, "js": batch}


def save_update(save: Document) -> dict[str, Any]:
    """The partial update one save makes to its progress document (`js`, its batch, aside)."""
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
                 round_s: float = 1.0, nudge: OutboxNudge | None = None, lease: Lease | None = None) -> None:
        """`lease`: with consumer replicas, only the process holding it compacts (ds_common.lease)."""
        self.lease = lease
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
        batches = [(d["_id"], batch_contents(d)) for d in docs]
        await self.publisher.publish([Envelope.model_validate(e) for _, (_, events) in batches for e in events])
        by_key: dict[tuple[str, str], list[tuple[str, Document]]] = {}
        for batch, (saves, _) in batches:
            for save in saves:
                by_key.setdefault((progress_collection(save["u"]), save["k"]), []).append((batch, save))
        listed: dict[str, dict[str, Any]] = {}  # learner -> listing fields to set
        for (collection, key), saves in by_key.items():
            state = await self._fold(self.db[collection], key, saves)
            listed.setdefault(saves[0][1]["u"], {}).update(listing_update(key, saves, state))
        for user_id, fields in listed.items():
            await self.db[LISTINGS].update_one({"_id": user_id}, {"$set": fields}, upsert=True)
        await self.journal.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
        return len(docs)

    async def _fold(self, collection: AsyncCollection[Document], key: str,
                    saves: list[tuple[str, Document]]) -> Document | None:
        """One update per progress document: the saves merged in batch order, if the document
        holds nothing newer than the oldest of them (the rule, apply_save, otherwise; then the
        state it wrote is returned, for the listing)."""
        merged: dict[str, Any] = {}
        for _, save in saves:
            merged.update(save_update(save))
        oldest, newest = saves[0][0], saves[-1][0]
        older = {"_id": key, "$or": [{"js": {"$exists": False}}, {"js": {"$lte": oldest}}]}
        try:
            await collection.update_one(older, {"$set": {**merged, "js": newest}}, upsert=True)
            return None
        except DuplicateKeyError:  # the document holds a newer batch: some of these came late
            pass
        for _ in range(8):
            state = await collection.find_one({"_id": key}) or {"_id": key}
            held, fields = state.get("js"), {}
            for batch, save in saves:
                fields.update(apply_save(state, save, batch))
            guard = {"_id": key, "js": held} if held is not None else {"_id": key, "js": {"$exists": False}}
            if not fields or (await collection.update_one(guard, {"$set": fields})).matched_count:
                return state
        raise RuntimeError(f"progress {key} kept changing while being compacted")

    async def run(self, stop: asyncio.Event) -> None:
        """A round every `round_s` while there are saves (so a learner's saves within it cost one
        store update); with none, it sleeps until an API process's nudge says one was written (or
        IDLE_WAIT_S passes), so an idle system is not asked every second."""
        keeper = asyncio.create_task(self.lease.keep(stop)) if self.lease is not None else None
        try:
            await self._rounds(stop)
        finally:
            if keeper is not None:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)

    async def _rounds(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if self.lease is not None:
                await self.lease.wait_until_held(stop)
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

    async def _pending(self, query: Document) -> list[tuple[str, Document]]:
        """The journal's saves (with their batch) matching `query`, oldest batch first."""
        # Read before the documents: a batch applied in between is then folded twice (harmless).
        docs = await self.journal.find(query, {"z": 1}).sort("_id", 1).to_list()
        return [(d["_id"], s) for d in docs for s in batch_contents(d)[0]]

    async def one(self, user_id: str, key: str) -> Document | None:
        pending = [(b, s) for b, s in await self._pending({"k": key}) if s["k"] == key]
        state = await self.db[progress_collection(user_id)].find_one({"_id": key})
        if state is None and not pending:
            return None
        state = state or {"_id": key}
        for batch, save in pending:
            apply_save(state, save, batch)
        return state

    async def start(self, user_id: str, channel_id: str, video_id: str, now_ms: int) -> None:
        """The empty entry register_dictation creates when there is none (the legacy contract)."""
        with contextlib.suppress(DuplicateKeyError):
            await self.db[progress_collection(user_id)].insert_one({
                "_id": f"{user_id}:{channel_id}:{video_id}", "user_id": user_id, "channel_id": channel_id,
                "video_id": video_id, "input": {}, "current_time": now_ms, "completion": 0})
        entry = f"v.{listing_key(channel_id, video_id)}"
        with contextlib.suppress(DuplicateKeyError):  # listed already: keep what it says
            await self.db[LISTINGS].update_one({"_id": user_id, entry: {"$exists": False}}, {"$set": {
                entry: {"channel_id": channel_id, "video_id": video_id, "completion": 0, "last_save_ms": 0,
                        "typed": False}}}, upsert=True)
        await self.listings.forget(user_id)

    async def of_user(self, user_id: str, *, limit: int = MAX_PER_LEARNER) -> list[Document]:
        pending = [(b, s) for b, s in await self._pending({"u": user_id}) if s["u"] == user_id]
        found = await self.db[progress_collection(user_id)].find({"user_id": user_id}).limit(limit).to_list()
        states = {d["_id"]: d for d in found}
        for batch, save in pending:
            apply_save(states.setdefault(save["k"], {"_id": save["k"]}), save, batch)
        return list(states.values())[:limit]

    async def listing(self, user_id: str, *, channel_id: str | None = None) -> list[Document]:
        """The learner's videos (of one channel, if given) as the list views show them."""
        listing = await self.listings.get(user_id, self._load_listings) or {}
        entries: list[Document] = listing.get("videos", [])
        return [e for e in entries if channel_id is None or e["channel_id"] == channel_id]

    async def _load_listings(self, user_ids: list[str]) -> dict[str, Document]:
        return {user_id: {"videos": await self._listing(user_id)} for user_id in user_ids}

    async def _listing(self, user_id: str) -> list[Document]:
        """The learner's listing document, with the journal's pending saves merged in."""
        # The journal first (see _pending): the compactor writes the listing before it deletes the
        # batch, so a batch gone by now is in the document read next. (Read the other way round, a
        # round between the reads hid the save, and its Redis copy kept hiding it: compaction does
        # not forget copies, which hold the same listing.)
        pending = [(batch, save) for batch, save in await self._pending({"u": user_id}) if save["u"] == user_id]
        doc = await self.db[LISTINGS].find_one({"_id": user_id})
        if doc is None:  # a learner from before listings were kept: built once from the documents
            entries = {listing_key(s["channel_id"], s["video_id"]): listed(s) for s in await self.of_user(user_id)}
            await self.db[LISTINGS].update_one({"_id": user_id}, {"$setOnInsert": {"v": entries}}, upsert=True)
            return list(entries.values())
        entries = {key: {"typed": False, **entry} for key, entry in (doc.get("v") or {}).items()}
        for batch, save in pending:
            merge_listed(entries, save, batch)
        return list(entries.values())[:MAX_PER_LEARNER]


def listing_key(channel_id: str, video_id: str) -> str:
    return f"{channel_id}:{video_id}"


def merge_listed(entries: dict[str, Document], save: Document, batch: str) -> None:
    """Fold one save into a learner's listing entries (the rule of apply_save: an older batch
    than the entry's only marks that something was typed)."""
    entry = entries.setdefault(listing_key(save["c"], save["v"]), {
        "channel_id": save["c"], "video_id": save["v"], "completion": 0, "last_save_ms": 0, "typed": False})
    if batch >= entry.get("js", ""):
        entry.update(completion=save["p"], last_save_ms=save["at"], js=batch, **(save.get("h") or {}))
    if any(text for text in (save.get("in") or {}).values()):
        entry["typed"] = True


def listing_update(key: str, saves: list[tuple[str, Document]], state: Document | None) -> dict[str, Any]:
    """The listing fields one compaction round sets for a progress document: from the state the
    slow path wrote, else from the round's saves (all newer than what was stored)."""
    first = saves[0][1]
    prefix = f"v.{listing_key(first['c'], first['v'])}"
    if state is not None:
        return {prefix: {**listed(state), "js": state.get("js", "")}}
    entries: dict[str, Document] = {}
    for batch, save in saves:
        merge_listed(entries, save, batch)
    entry = next(iter(entries.values()))
    fields = {f"{prefix}.{name}": value for name, value in entry.items() if name != "typed"}
    if entry["typed"]:
        fields[f"{prefix}.typed"] = True  # never set back: what was typed stays typed
    return fields


def listed(state: Document) -> Document:
    """A progress state as the list views show it; `typed`: whether any text was saved."""
    return {"channel_id": state["channel_id"], "video_id": state["video_id"], "completion": state.get("completion", 0),
            "last_save_ms": state.get("last_save_ms", 0), "typed": bool(state.get("input")),
            **{f: state[f] for f in ("channel_name", "video_title", "video_link") if f in state}}
