"""Reading topics back in tests."""

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from ds_common.events.envelope import Envelope


async def read_topic(bootstrap: str, topic: str, *, expected: int, timeout: float = 30.0,
                     raw: bool = False) -> list:
    """Every record of `topic` from the start, partition by partition in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] = set()
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records = []
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
        return records if raw else [Envelope.from_bytes(r.value) for r in records]
    finally:
        await consumer.stop()
