"""The event backbone against real Kafka and FerretDB: relay, crash, redelivery, DLT, broker restart."""

import asyncio
import collections
import contextlib
import importlib.util
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ds_common.events.cli import replay_dlt
from ds_common.events.consumer import (
    Batched,
    ConsumerRunner,
    Delivery,
    apply_once_by_event_id,
    apply_once_by_sequence,
    dlt_topic,
)
from ds_common.events.deltas import Delta, DeltaApplier
from ds_common.events.envelope import Envelope
from ds_common.events.kafka import KafkaPublisher, ensure_topics
from ds_common.events.outbox import OUTBOX, PENDING, OutboxNudge, OutboxRelay, document_with_events, with_events
from ds_common.runtime import Stores
from ds_common.service import outbox_nudge
from ds_common.settings import ServiceSettings
from ds_common.testing.fixtures import unique
from ds_common.testing.infra import Endpoints
from ds_common.testing.kit import read_topic, running
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase
from redis.exceptions import RedisError

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]


def event(topic: str, key: str, sequence: int, **data: object) -> Envelope:
    return Envelope(type=topic, occurred_at=datetime.now(UTC), producer="test", key=key,
                    sequence=sequence, data=dict(data))


async def write_events(db: AsyncDatabase, topic: str, keys: int, per_key: int) -> list[Envelope]:
    """Each key's document gets `per_key` sequential state changes, each with its event."""
    written: list[Envelope] = []

    async def one_key(k: int) -> None:
        for seq in range(1, per_key + 1):
            e = event(topic, f"key-{k}", seq, value=seq)
            await db.items.update_one({"_id": f"key-{k}"}, with_events({"$set": {"value": seq}}, e), upsert=True)
            written.append(e)

    await asyncio.gather(*(one_key(k) for k in range(keys)))
    return written


async def wait_outbox_empty(db: AsyncDatabase, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await db.items.count_documents({PENDING: True}):
        assert time.monotonic() < deadline, "outbox not drained"
        await asyncio.sleep(0.2)


async def test_relay_publishes_exactly_what_was_written_in_per_key_order(
        mongo_db: AsyncDatabase, endpoints: Endpoints) -> None:
    topic = unique("test.item")
    await ensure_topics(endpoints.kafka_bootstrap, [topic], partitions=3)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="test-relay")
    relay = OutboxRelay(mongo_db, ["items"], publisher, service="test", batch_size=20)
    async with running(relay.run):  # the relay races the writers on purpose
        written = await write_events(mongo_db, topic, keys=30, per_key=10)
        await wait_outbox_empty(mongo_db)
    await publisher.close()

    received = await read_topic(endpoints.kafka_bootstrap, topic, expected=len(written))
    assert sorted(e.id for e in received) == sorted(e.id for e in written)  # nothing lost, no duplicate
    by_key: dict[str, list[int]] = collections.defaultdict(list)
    for e in received:
        by_key[e.key].append(e.sequence)
    assert all(seqs == list(range(1, 11)) for seqs in by_key.values()), by_key
    doc = await mongo_db.items.find_one({"_id": "key-0"})
    assert doc["value"] == 10 and doc[OUTBOX] == [] and PENDING not in doc


async def test_relay_killed_mid_batch_loses_nothing(mongo_db: AsyncDatabase, endpoints: Endpoints) -> None:
    topic = unique("test.crash")
    await ensure_topics(endpoints.kafka_bootstrap, [topic], partitions=3)
    written = [event(topic, f"doc-{i}", 1, n=i) for i in range(1000)]
    await mongo_db.items.insert_many([document_with_events({"_id": e.key}, e) for e in written])

    def start_relay() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "libs/common/tests/example_relay.py"), endpoints.mongo_url,
             mongo_db.name, "items", endpoints.kafka_bootstrap, "25"],
            env={**os.environ}, stderr=subprocess.DEVNULL)

    relay = start_relay()
    try:
        seen = await read_topic(endpoints.kafka_bootstrap, topic, expected=200, timeout=60)
        assert 200 <= len(seen) < len(written), "relay should be killed mid-way"
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
        remaining = await mongo_db.items.count_documents({PENDING: True})
        assert remaining > 0
        relay = start_relay()
        await wait_outbox_empty(mongo_db, timeout=120)
    finally:
        relay.kill()
        relay.wait(10)

    received = await read_topic(endpoints.kafka_bootstrap, topic, expected=len(written) + 1, timeout=10)
    ids = collections.Counter(e.id for e in received)
    assert set(ids) == {e.id for e in written}, "an event was lost"
    duplicates = sum(n - 1 for n in ids.values())
    print(f"\nrelay SIGKILL test: {len(written)} events, {duplicates} duplicate(s) after the restart")
    assert duplicates <= 25 * 3  # at most the batches in flight when it died


async def test_each_event_delivered_twice_is_applied_once(mongo_db: AsyncDatabase, endpoints: Endpoints) -> None:
    topic = unique("test.twice")
    await ensure_topics(endpoints.kafka_bootstrap, [topic], partitions=3)
    deltas = [event(topic, f"acct-{i % 5}", i, amount=1) for i in range(1, 41)]
    states = [event(topic + "-state", "profile", seq, name=f"v{seq}") for seq in (1, 2, 3)]
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="test-twice")
    await publisher.publish([e for e in deltas for _ in range(2)])  # every event twice
    await publisher.publish([states[0], states[2], states[1], states[2], states[0]])  # late and repeated
    await publisher.close()

    deliveries = collections.Counter()

    async def add(e: Envelope) -> None:
        deliveries[e.id] += 1
        await apply_once_by_event_id(mongo_db.balances, e.key, e.id, {"$inc": {"total": e.data["amount"]}})

    async def profile(e: Envelope) -> None:
        await apply_once_by_sequence(mongo_db.profiles, e.key, e.sequence, {"$set": {"name": e.data["name"]}})

    runner = ConsumerRunner(bootstrap=endpoints.kafka_bootstrap, group=unique("g"),
                            handlers={topic: add, topic + "-state": profile})
    async with running(runner.run):
        deadline = time.monotonic() + 60
        while sum(deliveries.values()) < 80:
            assert time.monotonic() < deadline, deliveries
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)

    assert all(n == 2 for n in deliveries.values())
    totals = {d["_id"]: d["total"] async for d in mongo_db.balances.find()}
    assert totals == {f"acct-{k}": 8 for k in range(5)}
    assert (await mongo_db.profiles.find_one({"_id": "profile"}))["name"] == "v3"


async def test_a_batched_handler_sums_deltas_and_still_applies_each_event_once(
        mongo_db: AsyncDatabase, endpoints: Endpoints) -> None:
    topic = unique("test.batched")
    await ensure_topics(endpoints.kafka_bootstrap, [topic], partitions=2)
    deltas = [event(topic, f"acct-{i % 4}", i, amount=i) for i in range(1, 61)]
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="test-batched")
    await publisher.publish(deltas[:40])
    await publisher.publish(deltas[30:])  # 30..39 published twice, as after a producer's crash
    await publisher.close()
    batch_sizes: list[int] = []
    failed_once = False
    balances = DeltaApplier(mongo_db.balances)

    async def add_all(deliveries: list[Delivery]) -> None:
        nonlocal failed_once
        batch_sizes.append(len(deliveries))
        if len(deliveries) > 1 and not failed_once:  # the first batch fails: one by one it goes
            failed_once = True
            raise RuntimeError("store hiccup")
        by_account: dict[str, list[Delta]] = {}
        for d in deliveries:
            by_account.setdefault(d.event.key, []).append(
                Delta(d.event.id, d.partition, d.offset, {"total": d.event.data["amount"]}))
        for account, deltas in by_account.items():
            await balances.apply(account, deltas, {"kind": "balance"})

    runner = ConsumerRunner(bootstrap=endpoints.kafka_bootstrap, group=unique("g"), handlers={topic: Batched(add_all)})
    expected = {f"acct-{k}": sum(i for i in range(1, 61) if i % 4 == k) for k in range(4)}
    async with running(runner.run):
        deadline = time.monotonic() + 60
        while {d["_id"]: d["total"] async for d in mongo_db.balances.find()} != expected:
            assert time.monotonic() < deadline, batch_sizes
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # nothing more arrives (the duplicates changed nothing)

    assert failed_once and max(batch_sizes) > 1, batch_sizes  # batches happened, and one fell back
    assert {d["_id"]: d["total"] async for d in mongo_db.balances.find()} == expected


def delta(event_id: str, offset: int, n: int = 1, partition: int = 0) -> Delta:
    return Delta(event_id, partition, offset, {"n": n})


async def test_a_replayed_batch_is_skipped_by_its_offsets(mongo_db: AsyncDatabase) -> None:
    sums = DeltaApplier(mongo_db.sums)
    assert await sums.apply("d", [delta("a", 10), delta("b", 11)], {"kind": "sum"}) == 2
    # the consumer died before committing: the replay holds them again, cut differently
    assert await DeltaApplier(mongo_db.sums).apply("d", [delta("a", 10), delta("b", 11), delta("c", 12)], {}) == 1
    assert await sums.apply("d", [delta("x", 5, partition=1)], {}) == 1  # another partition: its own offsets
    doc = await mongo_db.sums.find_one({"_id": "d"})
    assert (doc["n"], doc["kind"], doc["_o"]) == (4, "sum", {"0": 12, "1": 5})


async def test_an_event_published_twice_is_skipped_within_the_window(mongo_db: AsyncDatabase) -> None:
    sums = DeltaApplier(mongo_db.sums, keep=3)
    assert await sums.apply("d", [delta("a", 1), delta("b", 2)], {}) == 2
    assert await sums.apply("d", [delta("a", 3), delta("c", 4), delta("c", 4)], {}) == 1  # a again, c twice
    assert await sums.apply("d", [delta("d", 5, n=5)], {}) == 1
    doc = await mongo_db.sums.find_one({"_id": "d"})
    assert (doc["n"], doc["_recent"]) == (8, ["b", "c", "d"])  # the last 3 ids only


async def test_a_stale_applier_reads_the_document_again(mongo_db: AsyncDatabase) -> None:
    first, second = DeltaApplier(mongo_db.sums), DeltaApplier(mongo_db.sums)
    assert await first.apply("d", [delta("a", 1)], {}) == 1
    assert await second.apply("d", [delta("b", 2)], {}) == 1  # a rebalance: another consumer wrote
    assert await first.apply("d", [delta("b", 2), delta("c", 3)], {}) == 1  # its memory was stale
    assert (await mongo_db.sums.find_one({"_id": "d"}))["n"] == 3


async def test_concurrent_appliers_of_one_document_lose_no_delta(mongo_db: AsyncDatabase) -> None:
    """Writers racing on one document (the version guard makes the losers read and retry)."""
    await asyncio.gather(*(DeltaApplier(mongo_db.sums).apply("c", [delta(f"e{i}", 0, n=i, partition=i)], {})
                           for i in range(20)))
    assert (await mongo_db.sums.find_one({"_id": "c"}))["n"] == sum(range(20))


async def test_a_paced_batched_handler_takes_a_partition_batch_at_most_every_so_often(endpoints: Endpoints) -> None:
    topic = unique("test.paced")
    await ensure_topics(endpoints.kafka_bootstrap, [topic], partitions=1)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="test-paced")
    batches: list[tuple[float, int]] = []

    async def handle(deliveries: list[Delivery]) -> None:
        batches.append((time.monotonic(), len(deliveries)))

    runner = ConsumerRunner(bootstrap=endpoints.kafka_bootstrap, group=unique("g"),
                            handlers={topic: Batched(handle, every_s=1.0)})
    async with running(runner.run):
        await asyncio.wait_for(runner.started.wait(), 30)
        for i in range(30):  # one event every 0.1 s for 3 s
            await publisher.publish([event(topic, "k", i)])
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 30
        while sum(n for _, n in batches) < 30:
            assert time.monotonic() < deadline, batches
            await asyncio.sleep(0.1)
    await publisher.close()
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(batches)]
    assert len(batches) <= 5 and all(gap >= 0.95 for gap in gaps), batches


async def test_poison_message_goes_to_the_dlt_and_replay_brings_it_back(
        mongo_db: AsyncDatabase, endpoints: Endpoints) -> None:
    topic, group = unique("test.poison"), unique("g")
    await ensure_topics(endpoints.kafka_bootstrap, [topic, dlt_topic(group, topic)], partitions=1)
    good, poison = event(topic, "k", 1, ok=True), event(topic, "k", 2, ok=False)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="test-poison")
    await publisher.publish([good, poison])
    producer = await publisher._ensure()  # a record that is not an envelope at all
    await (await producer.send(topic, b"\x00garbage", key=b"k"))
    after = event(topic, "k", 3, ok=True)
    await publisher.publish([after])
    await publisher.close()

    attempts = collections.Counter()
    broken = True

    async def handle(e: Envelope) -> None:
        attempts[e.id] += 1
        if not e.data["ok"] and broken:
            raise ValueError("cannot handle this yet")
        await apply_once_by_event_id(mongo_db.effects, e.id, e.id, {"$set": {"done": True}})

    runner = ConsumerRunner(bootstrap=endpoints.kafka_bootstrap, group=group, handlers={topic: handle},
                            max_attempts=3, backoff_base=0.05)
    async with running(runner.run):
        parked = await read_topic(endpoints.kafka_bootstrap, dlt_topic(group, topic), expected=2, raw=True)
        assert len(parked) == 2
        headers = [dict(r.headers) for r in parked]
        assert headers[0]["dlt.attempts"] == b"3" and b"ValueError" in headers[0]["dlt.error"]
        assert headers[1]["dlt.attempts"] == b"1" and b"PoisonMessage" in headers[1]["dlt.error"]
        assert attempts[poison.id] == 3
        # the partition moved on: the event after the poison one was handled
        while await mongo_db.effects.count_documents({}) < 2:
            await asyncio.sleep(0.1)

        broken = False  # the fix is deployed
        assert await replay_dlt(endpoints.kafka_bootstrap, group, topic) == 2
        deadline = time.monotonic() + 30
        while not await mongo_db.effects.find_one({"_id": poison.id}):
            assert time.monotonic() < deadline, "replayed event was not handled"
            await asyncio.sleep(0.1)
        # the garbage record failed again and was parked again; the fixed one was not
        reparked = await read_topic(endpoints.kafka_bootstrap, dlt_topic(group, topic), expected=3, raw=True)
        assert len(reparked) == 3 and reparked[2].value == b"\x00garbage"
        assert await replay_dlt(endpoints.kafka_bootstrap, group, topic) == 1
    assert attempts[poison.id] == 4
    assert {d["_id"] async for d in mongo_db.effects.find()} == {good.id, poison.id, after.id}


def _load_infra():
    spec = importlib.util.spec_from_file_location("infra", ROOT / "deploy/local/infra.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["infra"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_broker_restart_while_writing_loses_nothing(mongo_db: AsyncDatabase, endpoints: Endpoints) -> None:
    infra = _load_infra()
    kafka = next(s for s in infra.servers("test") if s.name == "kafka")
    if f"127.0.0.1:{kafka.port}" != endpoints.kafka_bootstrap or kafka.pid() is None:
        pytest.fail("this test stops and restarts the local test broker; start it with `make infra-test`")
    topic = unique("test.outage")
    await ensure_topics(endpoints.kafka_bootstrap, [topic], partitions=3)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="test-outage")
    relay = OutboxRelay(mongo_db, ["items"], publisher, service="test", max_backoff=1.0)
    written: list[Envelope] = []

    async def writer(stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            e = event(topic, f"w-{n % 7}", n, n=n)
            await mongo_db.items.update_one({"_id": e.key}, with_events({"$set": {"n": n}}, e), upsert=True)
            written.append(e)
            await asyncio.sleep(0.02)

    async with running(relay.run):
        async with running(writer):
            await asyncio.sleep(1.0)
            await asyncio.to_thread(kafka.stop)
            await asyncio.sleep(3.0)
            assert await mongo_db.items.count_documents({PENDING: True}) > 0  # events wait in the outbox
            await asyncio.to_thread(kafka.start)
            await asyncio.sleep(1.0)
        await wait_outbox_empty(mongo_db, timeout=90)
    await publisher.close()

    received = await read_topic(endpoints.kafka_bootstrap, topic, expected=len(written), timeout=30)
    assert {e.id for e in received} == {e.id for e in written}
    print(f"\nbroker restart test: {len(written)} events written during the outage window, none lost")


@contextlib.asynccontextmanager
async def nudged_relay(mongo_db: AsyncDatabase, endpoints: Endpoints, redis,
                       **options: Any) -> AsyncIterator[tuple[str, OutboxNudge]]:
    """A running relay over `items` with a Redis nudge; yields its fresh topic and the nudge."""
    topic = unique("test.nudge")
    await ensure_topics(endpoints.kafka_bootstrap, [topic], partitions=1)
    nudge = OutboxNudge(redis, unique("svc"))
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="test-nudge")
    relay = OutboxRelay(mongo_db, ["items"], publisher, service="test", nudge=nudge, **options)
    try:
        async with running(relay.run):
            await asyncio.sleep(0.5)  # past the start-up scan: the relay waits for a nudge
            yield topic, nudge
    finally:
        await publisher.close()


async def test_a_nudged_relay_publishes_without_waiting_for_its_poll(
        mongo_db: AsyncDatabase, endpoints: Endpoints, redis) -> None:
    async with nudged_relay(mongo_db, endpoints, redis, idle_interval=30) as (topic, nudge):
        e = event(topic, "k", 1)
        started = time.monotonic()
        await mongo_db.items.insert_one(document_with_events({"_id": "k"}, e))
        await nudge.nudge("items", "k")
        await wait_outbox_empty(mongo_db, timeout=5)
        latency = time.monotonic() - started
    assert latency < 2.0, latency
    assert [r.id for r in await read_topic(endpoints.kafka_bootstrap, topic, expected=1)] == [e.id]


async def test_two_databases_sharing_a_redis_never_take_each_others_nudges(mongo_db: AsyncDatabase, redis) -> None:
    """Say a test run beside `make dev`: the same service, another database, one Redis."""
    service = unique("svc")
    mine, theirs = (outbox_nudge(ServiceSettings(service_name=service, mongo_db=name),
                                 Stores(mongo_db.client, mongo_db.client[name], redis))
                    for name in ("mine", "theirs"))
    await mine.nudge("items", "k")
    assert await theirs.take(10) == ({}, 0)
    assert await mine.take(10) == ({"items": {"k"}}, 1)


async def test_events_whose_nudge_was_lost_are_found_by_the_periodic_sweep(
        mongo_db: AsyncDatabase, endpoints: Endpoints, redis) -> None:
    async with nudged_relay(mongo_db, endpoints, redis, sweep_interval=1.0) as (topic, nudge):
        lost = event(topic, "lost", 1)
        await mongo_db.items.insert_one(document_with_events({"_id": "lost"}, lost))  # writer died before nudging
        addressed = event(topic, "addressed", 1)
        await mongo_db.items.insert_one(document_with_events({"_id": "addressed"}, addressed))
        await nudge.nudge("items", "addressed")
        await wait_outbox_empty(mongo_db, timeout=10)
    received = await read_topic(endpoints.kafka_bootstrap, topic, expected=2)
    assert {r.id for r in received} == {lost.id, addressed.id}


async def test_a_backlog_of_stale_addresses_does_not_delay_a_new_event(
        mongo_db: AsyncDatabase, endpoints: Endpoints, redis) -> None:
    async with nudged_relay(mongo_db, endpoints, redis, idle_interval=30, batch_size=5) as (topic, nudge):
        done = [f"done-{i}" for i in range(100)]  # published long ago: their addresses are stale
        await mongo_db.items.insert_many([{"_id": d} for d in done])
        fresh = event(topic, "fresh", 1)
        await mongo_db.items.insert_one(document_with_events({"_id": "fresh"}, fresh))
        await nudge.nudge("items", *done, "fresh")  # one wake-up; "fresh" is rarely in the first pop
        await wait_outbox_empty(mongo_db, timeout=5)  # not after the 30 s idle
    assert [r.id for r in await read_topic(endpoints.kafka_bootstrap, topic, expected=1)] == [fresh.id]


async def test_relay_retries_a_failed_round_and_then_publishes(mongo_db: AsyncDatabase) -> None:
    from ds_common.events.memory import InMemoryBus

    bus = InMemoryBus()
    bus.fail_next = 2  # the first two rounds cannot publish
    written = [event("thing.made", f"k{i}", 1) for i in range(5)]
    await mongo_db.items.insert_many([document_with_events({"_id": e.key}, e) for e in written])
    relay = OutboxRelay(mongo_db, ["items"], bus, service="test", max_backoff=0.2)
    async with running(relay.run):
        await wait_outbox_empty(mongo_db, timeout=10)
    assert [e.id for e in bus.published] == [e.id for e in written]


class FlakyNudge(OutboxNudge):
    """A nudge whose Redis fails for the relay's next `down` reads of its addresses."""

    def __init__(self, redis, scope: str, down: int = 0) -> None:
        super().__init__(redis, scope)
        self.down = down

    async def take(self, count: int):
        if self.down:
            self.down -= 1
            raise RedisError("Redis is down")
        return await super().take(count)


async def test_a_nudged_relay_retries_a_failed_round_by_id_and_never_scans(mongo_db: AsyncDatabase, redis) -> None:
    from ds_common.events.memory import InMemoryBus

    bus, nudge = InMemoryBus(), OutboxNudge(redis, unique("svc"))
    relay = OutboxRelay(mongo_db, ["items"], bus, service="test", nudge=nudge, max_backoff=0.2,
                        sweep_interval=3600)
    async with running(relay.run):
        await asyncio.sleep(0.3)  # past the start-up sweep (an empty collection)
        written = [event("thing.made", f"k{i}", 1) for i in range(3)]
        bus.fail_next = 1
        await mongo_db.items.insert_many([document_with_events({"_id": e.key}, e) for e in written])
        await nudge.nudge("items", *(e.key for e in written))  # taken once, by the round that fails
        await wait_outbox_empty(mongo_db, timeout=5)  # long before the next sweep
    assert sorted(e.id for e in bus.published) == sorted(e.id for e in written)


async def test_nudges_lost_while_redis_was_down_are_found_once_it_is_back(mongo_db: AsyncDatabase, redis) -> None:
    from ds_common.events.memory import InMemoryBus

    bus, nudge = InMemoryBus(), FlakyNudge(redis, unique("svc"))
    relay = OutboxRelay(mongo_db, ["items"], bus, service="test", nudge=nudge, sweep_interval=3600)
    async with running(relay.run):
        await asyncio.sleep(0.3)  # past the start-up sweep
        nudge.down = 3
        lost = event("thing.made", "lost", 1)  # written during the outage: its writer's nudge failed
        await mongo_db.items.insert_one(document_with_events({"_id": "lost"}, lost))
        await wait_outbox_empty(mongo_db, timeout=30)  # the sweep after the outage, not in an hour
    assert [e.id for e in bus.published] == [lost.id]


async def test_the_sweep_reads_every_document_a_page_at_a_time_and_nudges_the_pending(
        mongo_db: AsyncDatabase, redis) -> None:
    from ds_common.events.memory import InMemoryBus

    nudge = OutboxNudge(redis, unique("svc"))
    relay = OutboxRelay(mongo_db, ["items"], InMemoryBus(), service="test", nudge=nudge, sweep_page=40,
                        sweep_duty=0.5)
    pending = [event("thing.made", f"p{i}", 1) for i in range(3)]
    await mongo_db.items.insert_many([{"_id": f"done{i}"} for i in range(200)])
    await mongo_db.items.insert_many([document_with_events({"_id": e.key}, e) for e in pending])
    service = {"service": "test"}
    before = REGISTRY.get_sample_value("outbox_sweep_documents_total", service) or 0
    assert await relay.sweep() == 3
    assert REGISTRY.get_sample_value("outbox_sweep_documents_total", service) - before == 203  # its cost, reported
    assert REGISTRY.get_sample_value("outbox_sweep_seconds", service) > 0
    assert await nudge.take(10) == ({"items": {"p0", "p1", "p2"}}, 3)
