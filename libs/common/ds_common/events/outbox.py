"""The transactional outbox: state and the events it causes land in ONE document write.

Writers add events to the aggregate document they change (`with_events` for an update,
`document_with_events` for an insert): the events sit in `_outbox` and `_outbox_pending` is set.
The relay publishes pending events with acks=all, then removes exactly those events. A crash
anywhere loses nothing and at worst publishes an event twice; consumers are idempotent.

Finding pending documents: a writer's nudge names the document it wrote, so the relay reads just
that one by `_id`; a round that fails reads its documents again in the next. Nothing on a timer
reads a whole collection: the safety net for a lost nudge (a writer that died between its write
and its nudge, or Redis down) is a sweep beside the relay loop, at start, every six hours and after
a Redis outage, paced so that it keeps the store busy a tenth of the time at most (FerretDB cannot
use the `_outbox_pending` index and reads every document). Its cost is reported
(`outbox_sweep_seconds`, `outbox_sweep_documents_total`). Addressed nudges keep latency flat
however large the collections grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from prometheus_client import Counter, Gauge
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ds_common.events.envelope import Envelope
from ds_common.events.kafka import EventPublisher
from ds_common.lease import Lease
from ds_common.mongo import Document, IndexSpec, asc, paced_scan
from ds_common.redis import for_blocking
from ds_common.waiting import unless_stopped

logger = logging.getLogger("ds.events.relay")

OUTBOX = "_outbox"
PENDING = "_outbox_pending"

PUBLISHED = Counter("outbox_events_published_total", "Events published by the relay", ["service"])
FAILURES = Counter("outbox_publish_failures_total", "Failed relay rounds", ["service"])
BACKLOG = Gauge("outbox_backlog_events", "Pending events seen in the last relay round", ["service"])
OLDEST_AGE = Gauge("outbox_oldest_pending_age_seconds", "Age of the oldest pending event", ["service"])
SWEEP_SECONDS = Gauge("outbox_sweep_seconds", "Duration of the last safety-net sweep", ["service"])
SWEPT = Counter("outbox_sweep_documents_total", "Documents read by safety-net sweeps", ["service"])


def with_events(update: dict[str, Any], *events: Envelope) -> dict[str, Any]:
    """Extend a Mongo update so the same single-document write also records `events`."""
    merged = {op: dict(fields) for op, fields in update.items()}
    merged.setdefault("$push", {})[OUTBOX] = {"$each": [e.to_document() for e in events]}
    merged.setdefault("$set", {})[PENDING] = True
    return merged


def document_with_events(document: Document, *events: Envelope) -> Document:
    """A new document that carries `events` in its outbox."""
    return {**document, OUTBOX: [e.to_document() for e in events], PENDING: True}


def outbox_indexes(*collections: str) -> list[IndexSpec]:
    return [IndexSpec(c, asc(PENDING)) for c in collections]


def strip_outbox(document: Document) -> Document:
    return {k: v for k, v in document.items() if k not in (OUTBOX, PENDING)}


class OutboxNudge:
    """Wakes the relay as soon as a writer has stored events, and tells it where they are.

    A writer calls `nudge(collection, doc_id)` after its write (without a document id: "scan this
    collection"). The address goes into a Redis set, the wake-up into a one-element list the relay
    blocks on, so a nudge given while the relay is busy is not lost. If Redis is down the relay
    still scans at its idle interval: the nudge only lowers latency.
    """

    def __init__(self, redis: Redis, scope: str) -> None:
        """`scope`: the service and its database (ds_common.service.outbox_nudge)."""
        self.redis = redis
        self.key = f"{scope}:outbox:nudge"
        self.addresses_key = f"{scope}:outbox:pending"
        self._blocking: Redis | None = None  # for `wait`, which blocks longer than a command may

    async def nudge(self, collection: str, *doc_ids: str | int) -> None:
        addresses = [json.dumps([collection, d]) for d in doc_ids] or [json.dumps([collection])]
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.sadd(self.addresses_key, *addresses)
                pipe.lpush(self.key, "1")
                pipe.ltrim(self.key, 0, 0)
                await pipe.execute()
        except RedisError:
            logger.warning("outbox nudge failed; the relay will poll", exc_info=True)

    async def wait(self, timeout: float) -> None:
        if self._blocking is None:
            self._blocking = for_blocking(self.redis)
        await self._blocking.blpop([self.key], timeout=max(timeout, 0.01))

    async def take(self, count: int) -> tuple[dict[str, set[str | int] | None], int]:
        """Pop up to `count` addresses: (collection → document ids or None for "scan it", how many)."""
        taken: dict[str, set[str | int] | None] = {}
        popped = cast("list[str | bytes] | None", await self.redis.spop(self.addresses_key, count)) or []
        for raw in popped:
            collection, *doc_id = json.loads(raw)
            ids = taken.setdefault(collection, set())
            if ids is not None and doc_id:
                ids.add(doc_id[0])
            else:
                taken[collection] = None
        return taken, len(popped)


Targets = dict[str, set[str | int] | None]  # collection → the documents to read, or None: scan it


class OutboxRelay:
    def __init__(self, db: AsyncDatabase[Document], collections: Iterable[str],
                 publisher: EventPublisher, *, service: str, batch_size: int = 200,
                 idle_interval: float = 0.05, max_backoff: float = 5.0, nudge: OutboxNudge | None = None,
                 sweep_interval: float = 6 * 3600.0, sweep_page: int = 100, sweep_duty: float = 0.1,
                 lease: Lease | None = None) -> None:
        """`sweep_*`: the safety net for lost nudges (see `sweep`): every `sweep_interval`, pages of
        `sweep_page` documents, keeping the store busy at most `sweep_duty` of the time. `lease`:
        with replicas, only the process holding it publishes (ds_common.lease)."""
        self.lease = lease
        self.db = db
        self.collections = list(collections)
        self.publisher = publisher
        self.service = service
        self.batch_size = batch_size
        # With a nudge the relay sleeps until told (a wake-up is pushed with each address, so none
        # is lost while Redis is up); polling is only the fallback.
        self.idle_interval = idle_interval if nudge is None else max(idle_interval, 10.0)
        self.max_backoff = max_backoff
        self.nudge = nudge
        self.sweep_interval = sweep_interval
        self.sweep_page = sweep_page
        self.sweep_duty = sweep_duty
        self._retry: Targets = {}  # what a failed round had taken: read again next round
        self._more = False  # the last round had more than a batch: go on without idling
        self._redis_down = False
        self._sweep_now = asyncio.Event()

    async def publish_pending(self) -> int:
        """One round; returns how many events were published. With a nudge it reads the nudged
        documents by `_id` (and those of a failed round); without one it scans for pending ones."""
        self._more = False
        targets = await self._targets()
        self._retry = targets  # until this round has published them
        total = 0
        oldest: datetime | None = None
        for name in self.collections:
            if name not in targets:
                continue
            docs = await self._pending(name, targets[name])
            stored = [(doc, list(doc.get(OUTBOX) or [])) for doc in docs]
            batches = [[Envelope.model_validate(e) for e in outbox] for _, outbox in stored if outbox]
            batches.sort(key=lambda batch: batch[0].occurred_at)  # write order; each document's own order kept
            events = [event for batch in batches for event in batch]
            if batches:
                oldest = min(oldest or batches[0][0].occurred_at, batches[0][0].occurred_at)
            await self.publisher.publish(events)
            for doc, outbox in stored:
                await self._mark_published(name, doc["_id"], outbox)
            total += len(events)
        self._retry = {}
        BACKLOG.labels(self.service).set(total)
        OLDEST_AGE.labels(self.service).set(
            (datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
        PUBLISHED.labels(self.service).inc(total)
        return total

    async def _targets(self) -> Targets:
        if self.nudge is None:
            return dict.fromkeys(self.collections)
        targets: Targets = {name: set(ids) if ids is not None else None for name, ids in self._retry.items()}
        try:
            taken, count = await self.nudge.take(self.batch_size)
        except RedisError:
            if not self._redis_down:
                logger.warning("outbox addresses unavailable; nudges given meanwhile are found by a sweep "
                               "once Redis is back", exc_info=True)
            self._redis_down = True
            return targets
        if self._redis_down:  # writers' nudges may have been lost while Redis was down
            self._redis_down = False
            self._sweep_now.set()
        self._more = count >= self.batch_size
        for name, ids in taken.items():
            if ids is None or targets.get(name, set()) is None:
                targets[name] = None
            else:
                targets.setdefault(name, set()).update(ids)  # type: ignore[union-attr]
        return targets

    async def _pending(self, name: str, ids: set[str | int] | None) -> list[Document]:
        collection = self.db[name]
        if ids is None:  # no nudge to say where: the pending flag (an index on MongoDB)
            docs = await collection.find({PENDING: True}, {OUTBOX: 1}).limit(self.batch_size).to_list()
            self._more = self._more or len(docs) == self.batch_size
            return docs
        # One read per `_id`: an index hit on every store (FerretDB scans for `$in`).
        found = await asyncio.gather(*(collection.find_one({"_id": i, PENDING: True}, {OUTBOX: 1}) for i in ids))
        return [doc for doc in found if doc is not None]

    async def _mark_published(self, collection: str, doc_id: Any, published: Sequence[Document]) -> None:
        coll = self.db[collection]
        # Common case: nothing was added since we read, so empty the outbox in one write.
        cleared = await coll.update_one({"_id": doc_id, OUTBOX: list(published)},
                                        {"$set": {OUTBOX: []}, "$unset": {PENDING: ""}})
        if cleared.matched_count == 0:
            # New events arrived meanwhile: remove just ours; the flag stays for the next round.
            await coll.update_one({"_id": doc_id}, {"$pullAll": {OUTBOX: list(published)}})

    async def sweep(self) -> int:
        """The safety net for a lost nudge (a writer that died between its write and its nudge, or
        Redis down): read every document's pending flag and nudge the pending ones. It reads whole
        collections (FerretDB cannot use the flag's index), so it runs rarely (at start, every
        `sweep_interval`, after a Redis outage) and paced: a page at a time, then a pause, so the
        store spends at most `sweep_duty` of its time on it. Returns the pending documents found."""
        assert self.nudge is not None
        started, read, found = time.monotonic(), 0, 0
        for name in self.collections:
            async for page in paced_scan(self.db[name], {PENDING: 1}, page=self.sweep_page, duty=self.sweep_duty):
                read += len(page)
                pending = [doc["_id"] for doc in page if doc.get(PENDING)]
                if pending:
                    await self.nudge.nudge(name, *pending)
                    found += len(pending)
        elapsed = time.monotonic() - started
        SWEEP_SECONDS.labels(self.service).set(elapsed)
        SWEPT.labels(self.service).inc(read)
        logger.info("outbox sweep: %d documents read in %.1f s, %d pending found", read, elapsed, found,
                    extra={"collections": self.collections})
        return found

    async def run(self, stop: asyncio.Event) -> None:
        helpers = [asyncio.create_task(self._sweeps(stop))] if self.nudge is not None else []
        if self.lease is not None:
            helpers.append(asyncio.create_task(self.lease.keep(stop)))
        try:
            await self._loop(stop)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _active(self, stop: asyncio.Event) -> None:
        """Return once this relay may publish: at once without a lease, else once it holds it."""
        if self.lease is not None and not self.lease.held:
            await self.lease.wait_until_held(stop)

    async def _sweeps(self, stop: asyncio.Event) -> None:
        """A sweep at start (whatever was pending before), then every `sweep_interval`, or soon after
        Redis comes back from an outage."""
        while not stop.is_set():
            self._sweep_now.clear()
            await self._active(stop)
            try:
                await self.sweep()
            except Exception:
                logger.warning("outbox sweep failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sweep_now.wait(), timeout=self.sweep_interval)

    async def _loop(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        logger.info("relay started", extra={"collections": self.collections})
        while not stop.is_set():
            await self._active(stop)
            started = time.monotonic()
            try:
                published = await self.publish_pending()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                FAILURES.labels(self.service).inc()
                logger.warning("relay round failed; retrying in %.1fs", backoff, exc_info=True)
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if self._redis_down:
                await _sleep_or_stop(stop, 1.0)  # what was taken is retried; new nudges wait for Redis
            elif published == 0 and not self._more:
                await self._idle(stop, max(self.idle_interval - (time.monotonic() - started), 0))

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        if self.nudge is None or stop.is_set():
            await _sleep_or_stop(stop, seconds)
            return
        try:
            await unless_stopped(stop, self.nudge.wait(seconds))
        except RedisError:  # e.g. Redis restarted: the addresses it held are gone, so sweep once it is back
            self._redis_down = True
            await _sleep_or_stop(stop, 1.0)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
