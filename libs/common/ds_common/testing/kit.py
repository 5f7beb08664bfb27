"""The test kit every service's tests share: polling, a clock that moves, an app in process, the
tail of Kafka topics, and in-memory stand-ins for the versioned documents and the event bus.

Integration tests drive the real stores; service-layer tests run the same use cases on
`InMemoryDocuments` (the contract of ds_common.versioned) with an `InMemoryBus` as the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ds_common.errors import AppError
from ds_common.events.envelope import Envelope, new_event
from ds_common.events.kafka import ensure_topics
from ds_common.events.memory import InMemoryBus
from ds_common.mongo import Document
from ds_common.testing.kafka import partitions_of
from ds_common.versioned import Change, Decide, Written, conflict


async def eventually(check: Callable[[], Awaitable[Any] | Any], *, within_s: float = 20.0, interval: float = 0.05,
                     what: str = "condition") -> Any:
    """Call `check` (sync or async) until it returns something truthy; fail after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what} (last: {result!r})")
        await asyncio.sleep(interval)


class MovableClock:
    """Real time plus an offset a test can move (expiry, cycles, days later); Redis TTLs keep
    running on real time."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    @contextlib.contextmanager
    def moved(self, delta: timedelta) -> Iterator[None]:
        """Later by `delta` inside the block, back afterwards (module-scoped apps share clocks)."""
        self.advance(delta)
        try:
            yield
        finally:
            self.advance(-delta)


@contextlib.asynccontextmanager
async def running(worker: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> AsyncIterator[asyncio.Task[None]]:
    """A worker loop (a relay, a consumer, a compactor) running until the block ends; yields its task."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker(stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def in_process(app: FastAPI, *, base_url: str = "http://test", client_ip: str = "127.0.0.1",
                     timeout_s: float = 60) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (its lifespan) and a client that calls it without a network."""
    transport = httpx.ASGITransport(app=app, client=(client_ip, 50000))
    async with LifespanManager(app, startup_timeout=timeout_s, shutdown_timeout=timeout_s), \
            httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


class TopicTail:
    """Every record published on `topics` after `start()`, other tests' events included."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> TopicTail:
        await ensure_topics(self.bootstrap, self.topics)
        await self.consumer.start()
        partitions = [tp for topic in self.topics for tp in await partitions_of(self.consumer, topic)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end positions now, before anything is published
            await self.consumer.position(tp)
        return self

    async def wait_for(self, key: str, count: int = 1, timeout: float = 20.0) -> list[Envelope]:
        """The first `count` events with Kafka key `key`, in arrival order."""
        found: list[Envelope] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(found)} of {count} events for {key}")
            for batch in (await self.consumer.getmany(timeout_ms=50)).values():
                found += [Envelope.from_bytes(r.value or b"") for r in batch if r.key == key.encode()]
        return found

    async def stop(self) -> None:
        await self.consumer.stop()


async def read_topic(bootstrap: str, topic: str, *, expected: int, timeout: float = 30.0,
                     raw: bool = False) -> list[Any]:
    """Every record of `topic` from its start (at least `expected`), partition by partition in
    order: envelopes, or the records themselves (`raw`: headers, keys)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic, timeout_s=timeout)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records += batch
        return records if raw else [Envelope.from_bytes(r.value or b"") for r in records]
    finally:
        await consumer.stop()


class InMemoryDocuments:
    """`VersionedDocuments` in memory, for service-layer tests: the same `get` / `mutate`
    contract (versions, decide functions, created fields); the events of each write go straight to
    `bus`, as the relay would publish them."""

    def __init__(self, bus: InMemoryBus | None = None, *, version_field: str = "version",
                 busy: Callable[[], AppError] = conflict) -> None:
        self.docs: dict[Any, Document] = {}
        self.bus = bus or InMemoryBus()
        self.version_field = version_field
        self.busy = busy

    async def get(self, doc_id: Any, projection: Mapping[str, Any] | None = None) -> Document | None:
        return copy.deepcopy(self.docs.get(doc_id))

    async def mutate(self, doc_id: Any, decide: Decide, *, created: Mapping[str, Any] | None = None) -> Written:
        current = await self.get(doc_id)
        change = decide(current)
        if change is None:
            return Written(current, False)
        version = int((current or {}).get(self.version_field, 0)) + 1
        events = tuple(new_event(e, key=str(doc_id), sequence=version, causation=change.causation)
                       for e in change.events)
        base = current if current is not None else {"_id": doc_id, **(created or {})}
        document = {**{k: v for k, v in base.items() if k not in change.unset}, **change.set,
                    self.version_field: version}
        self.docs[doc_id] = copy.deepcopy(document)
        await self.bus.publish(events)
        return Written(document, True, events)

    async def create_many(self, new: Mapping[Any, Change]) -> set[Any]:
        created = set()
        for doc_id, change in new.items():
            if doc_id not in self.docs:
                await self.mutate(doc_id, lambda _, change=change: change)  # type: ignore[misc]
                created.add(doc_id)
        return created
