"""The free-plan quota on the server: cycles, races, plans from billing's events, transcript access."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from ds_common.events.contracts import Entitlement, PlanChanged
from ds_common.events.envelope import new_event
from ds_common.events.kafka import KafkaPublisher, ensure_topics
from ds_common.testing.fixtures import unique
from ds_common.testing.kafka import start_group_at_end
from ds_common.testing.kit import eventually, running
from ds_progress.adapters.collections import QUOTA
from progress_helpers import catalogued, consumer, stores_for

pytestmark = pytest.mark.integration


async def quota(client, h, video: str, channel: str = "ch1") -> dict:
    return (await client.get("/user/dictation_quota", params={"channelId": channel, "videoId": video},
                             headers=h)).json()


async def register(client, h, video: str, channel: str = "ch1"):
    return await client.post("/user/register_dictation", json={"channelId": channel, "videoId": video}, headers=h)


async def access(client, h, video: str, channel: str = "ch1") -> dict:
    return (await client.get(f"/internal/access/{channel}/{video}", headers=h)).json()


async def test_four_videos_per_cycle_reopen_free_and_reset_after_30_days(
        client, issuer, clock, mongo_db, settings) -> None:
    await catalogued(settings, "ch1", *(f"v{i}" for i in range(1, 6)))
    h = issuer.headers(unique("u"))
    fresh = await quota(client, h, "v1")
    assert fresh["used"] == 0 and fresh["limit"] == 4 and fresh["canProceed"] and fresh["notifyQuota"]
    # The front end reads the transcript before the learner confirms: allowed while the cycle has room.
    assert await access(client, h, "v1") == {"allowed": True, "reason": "preview"}
    for i in range(1, 5):
        answer = await register(client, h, f"v{i}")
        assert answer.json() == {"status": "success", "message": "Video registered and progress initialized"}
    started = (await client.get("/user/progress", params={"channelId": "ch1", "videoId": "v1"}, headers=h)).json()
    assert started["userInput"] == {} and started["currentTime"] == int(clock.now().timestamp() * 1000)

    full = await quota(client, h, "v5")
    assert full["used"] == 4 and not full["canProceed"] and full["notifyQuota"]
    assert full["endDate"] - full["startDate"] == 30 * 86_400_000
    refused = await register(client, h, "v5")
    assert refused.status_code == 403 and refused.json() == {"error": "Failed to register video, quota exceeded"}
    assert await access(client, h, "v5") == {"allowed": False, "reason": "quota_exceeded"}

    # Re-opening a started video is free and writes nothing.
    before = await mongo_db[QUOTA].find_one({})
    assert await quota(client, h, "v2") | {"startDate": 0, "endDate": 0} == {
        "used": 4, "limit": 4, "canProceed": True, "notifyQuota": False, "startDate": 0, "endDate": 0}
    assert (await register(client, h, "v2")).status_code == 200
    for _ in range(5):  # the front end re-sends a refused registration on every keystroke
        assert (await register(client, h, "v5")).status_code == 403
    after = await mongo_db[QUOTA].find_one({})
    assert after["rev"] == before["rev"] == 4 and len(after["_outbox"]) == 4
    assert await access(client, h, "v3") == {"allowed": True, "reason": "registered"}

    clock.advance(timedelta(days=29, hours=23))
    assert not (await quota(client, h, "v5"))["canProceed"]
    clock.advance(timedelta(hours=2))  # day 30 passed: a new cycle on the same 30-day grid
    renewed = await quota(client, h, "v5")
    assert renewed["used"] == 0 and renewed["canProceed"]
    assert renewed["startDate"] == full["startDate"] + 30 * 86_400_000
    assert (await register(client, h, "v5")).status_code == 200
    assert (await quota(client, h, "v1"))["notifyQuota"] is False  # history is kept across cycles
    clock.advance(timedelta(days=65))  # two cycles later the grid still holds
    assert (await quota(client, h, "v9"))["startDate"] == full["startDate"] + 90 * 86_400_000


async def test_unregistered_transcripts_are_bounded_per_day(client, issuer, clock, settings) -> None:
    """A free learner with room may read a bounded number of distinct videos a day before
    registering them; re-reading one of them, or a registered video, costs nothing."""
    h, cap = issuer.headers(unique("u")), settings.preview_videos_per_day
    await catalogued(settings, "ch1", "one-more")
    answers = [await access(client, h, f"p{i}") for i in range(cap)]
    assert answers == [{"allowed": True, "reason": "preview"}] * cap
    assert await access(client, h, "p0") == {"allowed": True, "reason": "preview"}  # the same video again
    assert await access(client, h, "one-more") == {"allowed": False, "reason": "preview_limit"}
    assert (await register(client, h, "one-more")).status_code == 200  # practising it is still allowed
    assert await access(client, h, "one-more") == {"allowed": True, "reason": "registered"}
    clock.advance(timedelta(days=1))
    try:
        assert await access(client, h, "next-day") == {"allowed": True, "reason": "preview"}
    finally:
        clock.advance(-timedelta(days=1))


async def test_a_progress_save_registers_its_video_and_is_refused_when_the_quota_is_full(
        client, issuer, mongo_db, settings) -> None:
    """The front end's sidebar switch never calls register_dictation: the first save registers."""
    await catalogued(settings, "ch1", *(f"s{i}" for i in range(10)))
    user = unique("u")
    h = issuer.headers(user)

    async def save(video: str):
        return await client.post("/user/progress", headers=h, json={
            "channelId": "ch1", "videoId": video, "userInput": {"0": "hello"}, "currentTime": 1,
            "overallCompletion": 10, "duration": 0})

    for i in range(4):
        assert (await save(f"s{i}")).status_code == 200
        assert (await save(f"s{i}")).status_code == 200  # saving it again counts nothing
    assert (await quota(client, h, "s9"))["used"] == 4
    refused = await save("s9")
    assert refused.status_code == 403 and refused.json() == {"error": "Failed to register video, quota exceeded"}
    assert (await save("s0")).status_code == 200  # a registered video is saved as before
    ledger = await mongo_db[QUOTA].find_one({"_id": user})
    assert sorted(ledger["history"]) == [f"ch1:s{i}" for i in range(4)] and len(ledger["_outbox"]) == 4


async def test_twenty_concurrent_registrations_exactly_four_succeed(client, issuer, mongo_db, settings) -> None:
    await catalogued(settings, "ch1", *(f"race{i}" for i in range(20)))
    h = issuer.headers(unique("u"))
    answers = await asyncio.gather(*(register(client, h, f"race{i}") for i in range(20)))
    assert sorted(a.status_code for a in answers) == [200] * 4 + [403] * 16
    doc = await mongo_db[QUOTA].find_one({})
    assert len(doc["videos"]) == 4 and len(doc["history"]) == 4 and len(doc["_outbox"]) == 4
    assert {e["data"]["video_id"] for e in doc["_outbox"]} == {v.split(":")[1] for v in doc["videos"]}


async def test_bad_quota_requests(client, issuer) -> None:
    h = issuer.headers(unique("u"))
    assert (await client.get("/user/dictation_quota", params={"channelId": "c"}, headers=h)).json() == {
        "error": "Missing channelId or videoId"}
    assert (await client.post("/user/register_dictation", json={"channelId": "c"}, headers=h)).status_code == 400
    assert (await register(client, h, "v$1")).status_code == 400
    assert (await client.post("/user/register_dictation", json={"channelId": "c", "videoId": "v",
                                                                 "userId": "x"}, headers=h)).status_code == 400
    assert (await client.get("/internal/access/c/v")).status_code == 401
    assert (await client.post("/user/init-quota", headers=h)).status_code in (404, 405)  # no user-callable reset


async def test_admins_are_unlimited(client, issuer, settings) -> None:
    await catalogued(settings, "ch1", *(f"v{i}" for i in range(6)), visibility="private")
    h = issuer.headers(unique("admin"), role="Admin")
    assert await quota(client, h, "v1") == {"used": 0, "limit": -1, "canProceed": True, "notifyQuota": False}
    for i in range(6):
        assert (await register(client, h, f"v{i}")).status_code == 200
    assert await access(client, h, "anything") == {"allowed": True, "reason": "admin"}


async def test_plan_changed_lifts_the_limit_within_2s_and_expiry_restores_it(
        client, issuer, clock, settings, endpoints) -> None:
    await catalogued(settings, "ch1", *(f"v{i}" for i in range(11)))
    user = unique("u")
    h = issuer.headers(user)
    for i in range(4):
        await register(client, h, f"v{i}")
    assert not (await quota(client, h, "v9"))["canProceed"]

    topics = ["plan.changed", "session.revoked", "user.registered", "user.updated", "practice.recorded"]
    await ensure_topics(endpoints.kafka_bootstrap, topics)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="fake-billing")
    group = unique("progress-test")
    await start_group_at_end(endpoints.kafka_bootstrap, group, topics)
    async with stores_for(settings) as stores:
        runner = consumer(settings, stores, group)
        async with running(runner.run):
            await eventually(lambda: asyncio.sleep(0, runner.started.is_set()))
            paid_until = clock.now() + timedelta(days=30)
            upgrade = PlanChanged(user_id=user, source="stripe",
                                  entitlement=Entitlement(plan="Basic", expires_at=paid_until))
            stale = PlanChanged(user_id=user, source="admin", entitlement=Entitlement(plan="Free"))
            sent = time.monotonic()
            await publisher.publish([new_event(upgrade, key=user, sequence=2)])
            lifted = await eventually(lambda: _limit_is(client, h, -1), within_s=10, interval=0.05)
            assert lifted and time.monotonic() - sent < 2
            await publisher.publish([new_event(stale, key=user, sequence=1)])  # older: ignored
            assert (await register(client, h, "v9")).status_code == 200
            assert await access(client, h, "v9") == {"allowed": True, "reason": "paid"}
            await asyncio.sleep(0.5)
            assert (await quota(client, h, "v10"))["limit"] == -1

    clock.advance(timedelta(days=31))  # the paid plan expired: read-time check, no event needed
    expired = await quota(client, h, "v10")
    assert expired["limit"] == 4 and expired["used"] == 0 and expired["canProceed"]
    # Videos opened while paid are not free afterwards; those counted before are.
    assert (await quota(client, h, "v9"))["notifyQuota"] is True
    assert (await quota(client, h, "v1"))["notifyQuota"] is False
    await publisher.close()


async def _limit_is(client, h, limit: int) -> bool:
    return (await quota(client, h, "v9"))["limit"] == limit
