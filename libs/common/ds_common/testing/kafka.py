"""Kafka helpers for tests and benchmarks on the shared local broker.

The local test topics hold every earlier run's events, so a new consumer group would start by
replaying all of them. `start_group_at_end` positions a group at the topics' current ends first:
the group then sees exactly what is published after, as a caught-up deployment would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from ds_common.events.kafka import ensure_topics


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, *, timeout_s: float = 15) -> list[TopicPartition]:
    """The topic's partitions, once the client's metadata knows them (a new topic takes a moment)."""
    deadline = time.monotonic() + timeout_s
    while not (found := consumer.partitions_for_topic(topic)) and time.monotonic() < deadline:
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.05)
    if not found:
        raise TimeoutError(f"no partitions known for topic {topic}")
    return [TopicPartition(topic, p) for p in sorted(found)]


async def start_group_at_end(bootstrap: str, group: str, topics: Iterable[str] | None = None,
                             offsets: dict[TopicPartition, int] | None = None) -> dict[TopicPartition, int]:
    """Commit `offsets` for `group` (by default the current ends of `topics`, or of every topic
    when None) and return them: passing them again later rewinds the group there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        if offsets is None:
            if topics is None:
                names = sorted(t for t in await consumer.topics() if not t.startswith("__"))
            else:
                names = list(topics)
                await ensure_topics(bootstrap, names)
            partitions = [tp for name in names for tp in await partitions_of(consumer, name)]
            consumer.assign(partitions)
            offsets = dict(await consumer.end_offsets(partitions))
        else:
            consumer.assign(list(offsets))
        await consumer.commit(offsets)
        return offsets
    finally:
        await consumer.stop()
