"""Reading what the catalog publishes on the shared Kafka topics, from "now" on."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from ds_common.events.envelope import Envelope
from ds_common.events.kafka import ensure_topics


class TopicTail:
    """Every record published on `topics` after `start()`, other services' events included."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> TopicTail:
        await ensure_topics(self.bootstrap, self.topics)
        await self.consumer.start()
        partitions = []
        for topic in self.topics:
            found: set[int] = set()
            while not found:
                await self.consumer._client.force_metadata_update()
                found = self.consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
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
            assert time.monotonic() < deadline, f"only {len(found)} of {count} events for {key}"
            for batch in (await self.consumer.getmany(timeout_ms=50)).values():
                found += [Envelope.from_bytes(r.value) for r in batch if r.key == key.encode()]
            await asyncio.sleep(0)
        return found

    async def stop(self) -> None:
        await self.consumer.stop()
