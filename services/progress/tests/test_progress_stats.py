"""Practice statistics: saves → journal outbox → Kafka → progress consumer → daily projection.

Exact under redelivery (a consumer killed after storing effects but before committing offsets)
and rebuildable by replaying the topic.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ds_common.events.envelope import Envelope
from ds_common.events.kafka import ensure_topics
from ds_common.testing.fixtures import unique
from ds_common.testing.kafka import start_group_at_end
from ds_progress.adapters.collections import STATS_DAILY
from progress_helpers import consumer, relay, running, save_body, stores_for, until

pytestmark = pytest.mark.integration
TOPICS = ["practice.recorded", "plan.changed", "session.revoked", "user.registered", "user.updated"]


async def total(client, h) -> int:
    return (await client.get("/user/duration", headers=h)).json()["totalDuration"]


async def test_statistics_exact_after_a_crash_mid_batch_and_after_a_full_replay(
        client, issuer, clock, settings, endpoints, mongo_db) -> None:
    await ensure_topics(endpoints.kafka_bootstrap, TOPICS)
    group = unique("progress-stats")
    start = await start_group_at_end(endpoints.kafka_bootstrap, group, TOPICS)
    user = unique("u")
    h = issuer.headers(user)
    day_one = clock.now()
    for i in range(20):
        assert (await client.post("/user/progress", json=save_body("chS", f"v{i % 3}", duration=10),
                                  headers=h)).status_code == 200
    clock.advance(timedelta(days=1))
    for _ in range(10):
        await client.post("/user/progress", json=save_body("chT", "v9", duration=7), headers=h)
    expected = 20 * 10 + 10 * 7
    applied = 0

    def crash_after_12(topic: str, handler):
        async def wrapped(event: Envelope) -> None:
            nonlocal applied
            await handler(event)
            if topic == "practice.recorded" and event.key == user:
                applied += 1
                if applied == 12:  # killed after storing an effect, before committing offsets
                    raise asyncio.CancelledError
        return wrapped

    async with stores_for(settings) as stores, relay(settings, stores):
        first = consumer(settings, stores, group, wrap=crash_after_12)
        async with running(first.run) as task:
            await until(lambda: asyncio.sleep(0, task.done()), timeout=60)
        partial = await total(client, h)
        assert 0 < partial < expected

        second = consumer(settings, stores, group)  # restart: redelivers the uncommitted batch
        async with running(second.run):
            await until(lambda: _equals(total(client, h), expected), timeout=60)
            await asyncio.sleep(1)  # let any redelivery land: still exact
            assert await total(client, h) == expected

        duration = (await client.get("/user/duration", headers=h)).json()
        midnight = int(datetime(day_one.year, day_one.month, day_one.day, tzinfo=UTC).timestamp() * 1000)
        assert duration["dailyDurations"] == {str(midnight): 200, str(midnight + 86_400_000): 70}

        # Full replay: reset the projection, move the group back, consume again.
        await mongo_db[STATS_DAILY].delete_many({})
        await start_group_at_end(settings.kafka_bootstrap, group, TOPICS, start)
        third = consumer(settings, stores, group)
        async with running(third.run):
            await until(lambda: _equals(total(client, h), expected), timeout=60)
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
