"""The transactional outbox: state and the events it causes land in ONE document write.

Writers add events to the aggregate document they change (`with_events` for an update,
`document_with_events` for an insert): the events sit in `_outbox` and `_outbox_pending` is set.
The relay publishes pending events with acks=all, then removes exactly those events. A crash
anywhere loses nothing and at worst publishes an event twice; consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ds_common.events.envelope import Envelope
from ds_common.events.kafka import EventPublisher
from ds_common.mongo import Document, IndexSpec, asc

logger = logging.getLogger("ds.events.relay")

OUTBOX = "_outbox"
PENDING = "_outbox_pending"

PUBLISHED = Counter("outbox_events_published_total", "Events published by the relay", ["service"])
FAILURES = Counter("outbox_publish_failures_total", "Failed relay rounds", ["service"])
BACKLOG = Gauge("outbox_backlog_events", "Pending events seen in the last relay round", ["service"])
OLDEST_AGE = Gauge("outbox_oldest_pending_age_seconds", "Age of the oldest pending event", ["service"])


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
    """Wakes the relay as soon as a writer has stored events, so it need not poll fast.

    A writer calls `nudge()` after its write; the relay waits in `wait()`. The signal is a
    one-element Redis list, so a nudge given while the relay is busy is not lost. If Redis is
    down the relay still polls at its idle interval: the nudge only lowers latency.
    """

    def __init__(self, redis: Redis, service: str) -> None:
        self.redis = redis
        self.key = f"{service}:outbox:nudge"

    async def nudge(self) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(self.key, "1")
                pipe.ltrim(self.key, 0, 0)
                await pipe.execute()
        except RedisError:
            logger.warning("outbox nudge failed; the relay will poll", exc_info=True)

    async def wait(self, timeout: float) -> None:
        await self.redis.blpop([self.key], timeout=max(timeout, 0.01))


class OutboxRelay:
    def __init__(self, db: AsyncDatabase[Document], collections: Iterable[str],
                 publisher: EventPublisher, *, service: str, batch_size: int = 200,
                 idle_interval: float = 0.05, max_backoff: float = 5.0,
                 nudge: OutboxNudge | None = None) -> None:
        self.db = db
        self.collections = list(collections)
        self.publisher = publisher
        self.service = service
        self.batch_size = batch_size
        # With a nudge the relay sleeps until told; polling is only the fallback.
        self.idle_interval = idle_interval if nudge is None else max(idle_interval, 1.0)
        self.max_backoff = max_backoff
        self.nudge = nudge

    async def publish_pending(self) -> int:
        """One round over every collection; returns how many events were published."""
        total = 0
        oldest: datetime | None = None
        for name in self.collections:
            collection = self.db[name]
            docs = await collection.find({PENDING: True}, {OUTBOX: 1}).limit(self.batch_size).to_list()
            stored = [(doc, list(doc.get(OUTBOX) or [])) for doc in docs]
            events = [Envelope.model_validate(e) for _, outbox in stored for e in outbox]
            for event in events:
                oldest = min(oldest, event.occurred_at) if oldest else event.occurred_at
            await self.publisher.publish(events)
            for doc, outbox in stored:
                await self._mark_published(name, doc["_id"], outbox)
            total += len(events)
        BACKLOG.labels(self.service).set(total)
        OLDEST_AGE.labels(self.service).set(
            (datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
        PUBLISHED.labels(self.service).inc(total)
        return total

    async def _mark_published(self, collection: str, doc_id: Any, published: Sequence[Document]) -> None:
        coll = self.db[collection]
        # Common case: nothing was added since we read, so empty the outbox in one write.
        cleared = await coll.update_one({"_id": doc_id, OUTBOX: list(published)},
                                        {"$set": {OUTBOX: []}, "$unset": {PENDING: ""}})
        if cleared.matched_count == 0:
            # New events arrived meanwhile: remove just ours; the flag stays for the next round.
            await coll.update_one({"_id": doc_id}, {"$pullAll": {OUTBOX: list(published)}})

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        logger.info("relay started", extra={"collections": self.collections})
        while not stop.is_set():
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
            if published == 0:
                await self._idle(stop, max(self.idle_interval - (time.monotonic() - started), 0))

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        if self.nudge is None or stop.is_set():
            await _sleep_or_stop(stop, seconds)
            return
        try:
            await self.nudge.wait(seconds)
        except RedisError:
            await _sleep_or_stop(stop, seconds)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
