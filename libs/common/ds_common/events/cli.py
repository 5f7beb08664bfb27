"""`ds-events`: operate the event backbone.

    ds-events schemas DIR              write JSON Schemas and the AsyncAPI document
    ds-events create-topics            create every contract's topic (and DLTs with --dlt-groups)
    ds-events replay-dlt GROUP TOPIC   send parked records of GROUP's DLT for TOPIC back to TOPIC
    ds-events rewind GROUP TOPIC...    move GROUP's offsets to the start, to rebuild a projection

Kafka comes from --bootstrap or $DS_KAFKA_BOOTSTRAP. Stop the group's consumers before `rewind`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import ds_common.events.contracts  # noqa: F401  (registers every contract)
from ds_common.events.consumer import dlt_topic
from ds_common.events.kafka import ensure_topics
from ds_common.events.registry import REGISTRY


def write_schemas(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in REGISTRY.json_schemas().items():
        (directory / f"{name}.schema.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    (directory / "asyncapi.json").write_text(json.dumps(REGISTRY.asyncapi(), indent=2, sort_keys=True) + "\n")


async def replay_dlt(bootstrap: str, group: str, topic: str) -> int:
    """Republish the records parked up to now; the replayer's own group remembers where it was.

    Only records present when the replay starts are sent: one that fails again is parked
    again, after this snapshot, and waits for the next replay instead of looping.
    """
    source = dlt_topic(group, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"{group}.dlt-replayer",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        partitions = [TopicPartition(source, p) for p in sorted(await _partitions(consumer, source))]
        if not partitions:
            return 0
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            if await consumer.position(tp) >= ends[tp]:
                consumer.pause(tp)
        while len(consumer.paused()) < len(partitions):
            for tp, records in (await consumer.getmany(timeout_ms=1000, max_records=500)).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlt.")]
                    await (await producer.send(topic, record.value, key=record.key,
                                               headers=[*headers, ("dlt.replayed", b"1")]))
                    replayed += 1
                await consumer.commit({tp: min(records[-1].offset + 1, ends[tp])})
                if await consumer.position(tp) >= ends[tp]:
                    consumer.pause(tp)
        return replayed
    finally:
        await producer.stop()
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(20):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.2)
    return set()


async def rewind(bootstrap: str, group: str, topics: list[str]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(await _partitions(consumer, t))]
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        await consumer.commit(dict(starts.items()))
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="ds-events", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("DS_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schemas").add_argument("directory", type=Path)
    topics = sub.add_parser("create-topics")
    topics.add_argument("--partitions", type=int, default=3)
    topics.add_argument("--dlt-groups", nargs="*", default=[])
    replay = sub.add_parser("replay-dlt")
    replay.add_argument("group")
    replay.add_argument("topic")
    rew = sub.add_parser("rewind")
    rew.add_argument("group")
    rew.add_argument("topics", nargs="+")
    args = parser.parse_args()

    if args.command == "schemas":
        write_schemas(args.directory)
    elif args.command == "create-topics":
        names = [c.topic for c in REGISTRY]
        names += [dlt_topic(g, t) for g in args.dlt_groups for t in names]
        asyncio.run(ensure_topics(args.bootstrap, names, partitions=args.partitions))
        print(f"{len(names)} topics present")
    elif args.command == "replay-dlt":
        count = asyncio.run(replay_dlt(args.bootstrap, args.group, args.topic))
        print(f"replayed {count} record(s) from {dlt_topic(args.group, args.topic)} to {args.topic}")
    else:
        asyncio.run(rewind(args.bootstrap, args.group, args.topics))
        print(f"group {args.group} rewound to the start of {', '.join(args.topics)}")


if __name__ == "__main__":
    main()
