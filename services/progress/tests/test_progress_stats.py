"""Practice statistics: saves → journal outbox → Kafka → progress consumer → daily projection.

Exact under redelivery (a consumer killed after storing effects but before committing offsets)
and rebuildable by replaying the topic.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import Batched, Delivery
from ds_common.events.contracts import PracticeRecorded
from ds_common.events.envelope import Envelope, new_event
from ds_common.events.kafka import ensure_topics
from ds_common.testing.fixtures import unique
from ds_common.testing.kafka import start_group_at_end
from ds_common.testing.kit import eventually, running
from ds_progress.adapters.collections import STATS_DAILY, STATS_TOTALS
from ds_progress.adapters.stats import PracticeStats
from progress_helpers import catalogued, consumer, relay, save_body, stores_for

pytestmark = pytest.mark.integration
TOPICS = ["practice.recorded", "plan.changed", "session.revoked", "user.registered", "user.updated"]


async def total(client, h) -> int:
    return (await client.get("/user/duration", headers=h)).json()["totalDuration"]


async def test_statistics_exact_after_a_crash_mid_batch_and_after_a_full_replay(
        client, issuer, clock, settings, endpoints, mongo_db) -> None:
    await ensure_topics(endpoints.kafka_bootstrap, TOPICS)
    await catalogued(settings, "chS", "v0", "v1", "v2")
    await catalogued(settings, "chT", "v9")
    group = unique("progress-stats")
    start = await start_group_at_end(endpoints.kafka_bootstrap, group, TOPICS)
    user = unique("u")
    h = issuer.headers(user)
    day_one = clock.now()
    for i in range(20):  # practice is credited up to the wall clock (W20): the clock runs with it
        clock.advance(timedelta(seconds=10))
        assert (await client.post("/user/progress", json=save_body("chS", f"v{i % 3}", duration=10),
                                  headers=h)).status_code == 200
    clock.advance(timedelta(days=1))
    for _ in range(10):
        clock.advance(timedelta(seconds=7))
        await client.post("/user/progress", json=save_body("chT", "v9", duration=7), headers=h)
    expected = 20 * 10 + 10 * 7
    applied = 0

    def crash_after_12(topic: str, handler):
        if topic != "practice.recorded":
            return handler

        async def handle(deliveries: list[Delivery]) -> None:
            nonlocal applied
            for delivery in deliveries:  # one at a time, to die in the middle of a batch
                await handler.handle([delivery])
                if delivery.event.key == user:
                    applied += 1
                    if applied == 12:  # killed after storing an effect, before committing offsets
                        raise asyncio.CancelledError
        return Batched(handle)

    async with stores_for(settings) as stores, relay(settings, stores):
        first = consumer(settings, stores, group, wrap=crash_after_12)
        async with running(first.run) as task:
            await eventually(lambda: asyncio.sleep(0, task.done()), within_s=60)
        partial = await total(client, h)
        assert 0 < partial < expected

        second = consumer(settings, stores, group)  # restart: redelivers the uncommitted batch
        async with running(second.run):
            await eventually(lambda: _equals(total(client, h), expected), within_s=60)
            await asyncio.sleep(1)  # let any redelivery land: still exact
            assert await total(client, h) == expected

        duration = (await client.get("/user/duration", headers=h)).json()
        midnight = int(datetime(day_one.year, day_one.month, day_one.day, tzinfo=UTC).timestamp() * 1000)
        assert duration["dailyDurations"] == {str(midnight): 200, str(midnight + 86_400_000): 70}

        # Full replay: reset the projection, move the group back, consume again.
        await mongo_db[STATS_DAILY].delete_many({})
        await mongo_db[STATS_TOTALS].delete_many({})
        await start_group_at_end(settings.kafka_bootstrap, group, TOPICS, start)
        third = consumer(settings, stores, group)
        async with running(third.run):
            await eventually(lambda: _equals(total(client, h), expected), within_s=60)
            await asyncio.sleep(1)
            assert await total(client, h) == expected


async def _equals(value, expected: int) -> bool:
    return await value == expected


async def test_usage_stats_for_admins(client, issuer, clock, settings, mongo_db) -> None:
    now = clock.now()
    today = int(datetime(now.year, now.month, now.day, tzinfo=UTC).timestamp() * 1000)
    day = 86_400_000
    await mongo_db[STATS_DAILY].insert_many([
        {"_id": "a:1", "user_id": "a", "day": today, "duration": 100},
        {"_id": "b:1", "user_id": "b", "day": today, "duration": 50},
        {"_id": "a:2", "user_id": "a", "day": today - day, "duration": 30},
        {"_id": "c:2", "user_id": "c", "day": today - day, "duration": 0},
        {"_id": "a:9", "user_id": "a", "day": today - 9 * day, "duration": 999},
    ])
    await mongo_db["users"].insert_many([{"_id": "a", "created_day": today - day}, {"_id": "b", "created_day": today}])
    admin = issuer.headers(unique("admin"), role="Admin")
    stats = (await client.get("/user/usage-stats", params={"days": 3}, headers=admin)).json()
    assert stats["summary"] == {"totalActiveUsers": 2, "totalDuration": 180, "avgDailyDuration": 60.0,
                                "totalNewUsers": 2, "period": "Last 3 days"}
    assert [d["activeUsers"] for d in stats["dailyActiveUsers"]] == [0, 1, 2]
    assert [d["duration"] for d in stats["dailyDuration"]] == [0, 30, 150]
    assert [d["newUsers"] for d in stats["dailyNewUsers"]] == [0, 1, 1]
    assert stats["dailyDuration"][-1]["date"] == now.strftime("%Y-%m-%d")
    default = (await client.get("/user/usage-stats", headers=admin)).json()
    assert default["summary"]["period"] == "Last 1 days" and len(default["dailyDuration"]) == 1
    learner = issuer.headers(unique("u"))
    assert (await client.get("/user/usage-stats", headers=learner)).status_code == 403
    for bad in ("0", "-3", "abc", "1000"):
        assert (await client.get("/user/usage-stats", params={"days": bad}, headers=admin)).status_code == 400


def parsed(event: Envelope, offset: int) -> Delivery:
    """A delivery as the consumer hands it over: its payload parsed as the handler's contract."""
    return Delivery(event, 0, offset, PracticeRecorded.model_validate(event.data))


def practice(user: str, seconds: int, at: datetime, video: str = "v1") -> Envelope:
    return new_event(PracticeRecorded(user_id=user, channel_id="chB", video_id=video, duration_s=seconds,
                                      recorded_at=at), key=user, sequence=to_ms(at),
                     occurred_at=at)


async def test_a_replayed_batch_and_an_event_published_twice_count_once(mongo_db) -> None:
    """The consumer hands over each partition batch at once. After a crash before its offsets were
    committed, the replay may cut the events differently; a relay that died between publishing
    and recording a round publishes its events again, at later offsets."""
    stats, user = PracticeStats(mongo_db), unique("u")
    day = datetime(2026, 5, 4, 10, tzinfo=UTC)
    events = [practice(user, 5, day + timedelta(minutes=i), video=f"v{i % 2}") for i in range(10)]
    events.append(practice(user, 7, day + timedelta(days=1)))
    delivered = [parsed(e, 100 + i) for i, e in enumerate(events)]
    assert await stats.record_many(delivered[:6]) == 6
    assert await PracticeStats(mongo_db).record_many(delivered[3:]) == 5  # a new consumer replays from 3
    assert await stats.record_many([parsed(events[8], 200)]) == 0  # published again, later
    totals = await stats.totals(user)
    midnight = to_ms(utc_midnight(day))
    assert totals["all"] == 10 * 5 + 7
    assert totals[f"d:{midnight}"] == 50 and totals[f"d:{midnight + 86_400_000}"] == 7
    assert totals["v:chB:v0"] == 25 and totals["v:chB:v1"] == 25 + 7
    assert await stats.record_many(delivered) == 0  # a full replay changes nothing
    assert await stats.totals(user) == totals
