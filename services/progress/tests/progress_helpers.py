"""Helpers for the progress tests: save bodies, in-process relay and consumer, polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from ds_common.events.consumer import ConsumerRunner, Handler
from ds_common.events.kafka import KafkaPublisher
from ds_common.events.outbox import OutboxRelay
from ds_common.runtime import Stores, open_stores
from ds_progress.adapters.collections import OUTBOX_COLLECTIONS
from ds_progress.adapters.journal import Compactor
from ds_progress.messaging.handlers import handlers
from ds_progress.settings import Settings


def save_body(channel: str, video: str, inputs: int = 20, *, duration: float = 10, completion: float = 25.5,
              start: int = 0, **extra: Any) -> dict[str, Any]:
    return {"channelId": channel, "videoId": video,
            "userInput": {str(i): f"typed sentence number {i}" for i in range(start, start + inputs)},
            "currentTime": 1_760_000_000_000, "overallCompletion": completion, "duration": duration, **extra}


async def until(check: Callable[[], Awaitable[Any]], *, timeout: float = 20, interval: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def stores_for(settings: Settings) -> AsyncIterator[Stores]:
    async with open_stores(settings) as stores:
        yield stores


@contextlib.asynccontextmanager
async def running(worker: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(worker(stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def relay(settings: Settings, stores: Stores) -> AsyncIterator[None]:
    """What publishes progress's events: the outbox relay (quota) and the journal compactor."""
    publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="progress-test-relay")
    outbox = OutboxRelay(stores.db, OUTBOX_COLLECTIONS, publisher, service="progress-test", idle_interval=0.05)
    compactor = Compactor(stores.db, publisher, idle_s=0.05)
    async with running(outbox.run), running(compactor.run):
        yield
    await publisher.close()


def consumer(settings: Settings, stores: Stores, group: str,
             wrap: Callable[[str, Handler], Handler] | None = None) -> ConsumerRunner:
    chosen = {t: (wrap(t, h) if wrap else h) for t, h in handlers(stores).items()}
    return ConsumerRunner(bootstrap=settings.kafka_bootstrap, group=group, handlers=chosen,
                          backoff_base=0.05, client_id=group)


async def position_group(bootstrap: str, group: str, topics: list[str],
                         offsets: dict[TopicPartition, int] | None = None) -> dict[TopicPartition, int]:
    """Commit `offsets` for `group` (default: the topics' current ends) and return them.

    The shared test topics hold every earlier run's events; a test group starts where the test's
    own events will start, and a replay moves it back there (what `ds-events rewind` does from the
    very beginning for a real rebuild).
    """
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        if offsets is None:
            partitions = []
            for topic in topics:
                found = await until(lambda t=topic: _partitions(client, t))
                partitions += [TopicPartition(topic, p) for p in sorted(found)]
            client.assign(partitions)
            offsets = await client.end_offsets(partitions)
        else:
            client.assign(list(offsets))
        await client.commit(offsets)
        return offsets
    finally:
        await client.stop()


async def _partitions(client: AIOKafkaConsumer, topic: str) -> set[int]:
    found = client.partitions_for_topic(topic)
    if not found:
        await client._client.force_metadata_update()
    return found or set()
