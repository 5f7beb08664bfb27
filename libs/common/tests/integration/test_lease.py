"""One active process among replicas (ds_common.lease), and relays that run as replicas: each event
is published once while both run, and the standby takes over when the active one dies."""

from __future__ import annotations

import asyncio
import time

import pytest
from ds_common.events.envelope import Envelope
from ds_common.events.memory import InMemoryBus
from ds_common.events.outbox import OutboxNudge, OutboxRelay, document_with_events
from ds_common.lease import Lease
from ds_common.testing.fixtures import unique
from ds_common.testing.kit import eventually, running
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


async def test_one_holder_at_a_time_and_a_dead_holders_lease_passes_on(redis: Redis) -> None:
    key = unique("lease")
    first, second = Lease(redis, key, ttl_s=1.0), Lease(redis, key, ttl_s=1.0)
    assert await first.try_take() and first.held
    assert not await second.try_take() and not second.held
    assert await first.try_take()  # renewing
    # The holder stalls (stops renewing, keeps running): it stops counting the lease as held
    # before the lease can expire and pass to another process.
    stalled_at = time.monotonic()
    await eventually(lambda: asyncio.sleep(0, not first.held), within_s=2, interval=0.02)
    assert time.monotonic() - stalled_at <= 0.6
    assert not await second.try_take()  # not expired yet
    await eventually(lambda: second.try_take(), within_s=2, interval=0.05)
    assert second.held and not await first.try_take()


async def test_keep_releases_the_lease_when_stopped(redis: Redis) -> None:
    key = unique("lease")
    first, second = Lease(redis, key, ttl_s=5.0), Lease(redis, key, ttl_s=5.0)
    async with running(first.keep):
        await eventually(lambda: asyncio.sleep(0, first.held))
        assert not await second.try_take()
    assert await second.try_take()  # at once, not after the 5 s


def _event(key: str) -> Envelope:
    from datetime import UTC, datetime
    return Envelope(type="thing.made", occurred_at=datetime.now(UTC), producer="test", key=key, sequence=1, data={})


async def test_two_relays_publish_each_event_once_and_the_standby_takes_over(
        mongo_db: AsyncDatabase, redis: Redis) -> None:
    bus, scope = InMemoryBus(), unique("svc")
    nudge = OutboxNudge(redis, scope)

    def relay() -> OutboxRelay:
        return OutboxRelay(mongo_db, ["items"], bus, service="test", nudge=nudge,
                           lease=Lease(redis, f"{scope}:outbox:lease", ttl_s=1.0))

    active, standby = relay(), relay()
    stops = {id(r): asyncio.Event() for r in (active, standby)}
    tasks = {id(active): asyncio.create_task(active.run(stops[id(active)]))}
    try:
        await eventually(lambda: asyncio.sleep(0, active.lease is not None and active.lease.held))
        tasks[id(standby)] = asyncio.create_task(standby.run(stops[id(standby)]))
        await asyncio.sleep(0.5)
        assert standby.lease is not None and not standby.lease.held
        first = [_event(f"a{i}") for i in range(20)]
        for e in first:
            await mongo_db.items.insert_one(document_with_events({"_id": e.key}, e))
            await nudge.nudge("items", e.key)
        await eventually(lambda: _published(bus, first), within_s=10)
        stops[id(active)].set()  # the active relay goes (a rolling update, or it died)
        await tasks[id(active)]
        then = [_event(f"b{i}") for i in range(5)]
        for e in then:
            await mongo_db.items.insert_one(document_with_events({"_id": e.key}, e))
            await nudge.nudge("items", e.key)
        await eventually(lambda: _published(bus, first + then), within_s=10)
    finally:
        for stop in stops.values():
            stop.set()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    ids = [e.id for e in bus.published]
    assert sorted(ids) == sorted(e.id for e in first + then) and len(ids) == len(set(ids))  # once each


async def _published(bus: InMemoryBus, events: list[Envelope]) -> bool:
    return {e.id for e in events} <= {e.id for e in bus.published}
