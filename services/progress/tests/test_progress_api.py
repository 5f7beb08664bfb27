"""Progress, missed words and bad input, through the API on real FerretDB and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from ds_common.cache import DocumentCache
from ds_common.events.contracts import ChannelUpdated, UserRegistered, VideoPublished, VideoRemoved
from ds_common.events.envelope import new_event
from ds_common.testing.fixtures import unique
from ds_common.testing.kit import eventually, running
from ds_progress.adapters.collections import JOURNAL, progress_collection
from ds_progress.adapters.journal import (
    Compactor,
    JournalWriter,
    ProgressReader,
    batch_document,
    journal_nudge,
    progress_key,
)
from ds_progress.main import api_app
from progress_helpers import catalogued, handlers_by_topic, save_body, signed_up, stores_for
from pymongo.errors import AutoReconnect

pytestmark = pytest.mark.integration


async def test_save_restore_and_partial_updates(client, issuer, mongo_db, publisher, settings) -> None:
    await catalogued(settings, "ch1", "v1")
    user = unique("u")
    h = issuer.headers(user)
    empty = await client.get("/user/progress", params={"channelId": "ch1", "videoId": "v1"}, headers=h)
    assert empty.json() == {"channelId": "ch1", "videoId": "v1", "userInput": "", "currentTime": 0,
                            "overallCompletion": 0}

    first = await client.post("/user/progress", json=save_body("ch1", "v1", 3, duration=12), headers=h)
    assert first.status_code == 200, first.text
    assert first.json()["message"] == "Dictation progress and video duration updated successfully"
    assert first.json()["totalDuration"] == 12 and first.json()["videoDuration"] == 12
    # A later save sends a subset: inputs it does not mention are kept (partial $set, no blob rewrite).
    second = save_body("ch1", "v1", 2, start=2, completion=40)
    second["userInput"]["2"] = "corrected"
    assert (await client.post("/user/progress", json=second, headers=h)).status_code == 200

    expected = {"0": "typed sentence number 0", "1": "typed sentence number 1", "2": "corrected",
                "3": "typed sentence number 3"}
    restored = (await client.get("/user/progress", params={"channelId": "ch1", "videoId": "v1"}, headers=h)).json()
    assert restored["userInput"] == expected and restored["overallCompletion"] == 40

    # The same state comes back from the store alone: uncompacted journal, then compacted documents.
    await client.app.state.ctx.progress.cache.redis.delete(f"progress:p:{user}:ch1:v1")
    from_journal = (await client.get("/user/progress", params={"channelId": "ch1", "videoId": "v1"}, headers=h))
    assert from_journal.json()["userInput"] == expected
    while await Compactor(mongo_db, publisher).compact_once():
        pass
    doc = await mongo_db[progress_collection(user)].find_one({"_id": f"{user}:ch1:v1"})
    assert doc["input"] == expected and doc["completion"] == 40
    assert await mongo_db[JOURNAL].count_documents({"u": user}) == 0
    await client.app.state.ctx.progress.cache.redis.delete(f"progress:p:{user}:ch1:v1")
    compacted = (await client.get("/user/progress", params={"channelId": "ch1", "videoId": "v1"}, headers=h))
    assert compacted.json()["userInput"] == expected


async def test_every_save_is_durable_when_answered_even_when_many_arrive_at_once(
        client, issuer, mongo_db, settings) -> None:
    await catalogued(settings, "ch1", "v9")
    users = [unique("u") for _ in range(40)]
    answers = await asyncio.gather(*(client.post("/user/progress", json=save_body("ch1", "v9"),
                                                 headers=issuer.headers(u)) for u in users))
    assert all(a.status_code == 200 for a in answers)
    stored = {u async for d in mongo_db[JOURNAL].find({}) for u in d["u"]}
    assert set(users) <= stored
    batches = await mongo_db[JOURNAL].count_documents({})
    assert batches < len(users)  # group commit: fewer journal writes than saves


async def test_channel_and_all_progress_views(client, issuer, mongo_db, publisher, settings) -> None:
    await catalogued(settings, "chA", "v1", "v2")
    await catalogued(settings, "chB", "v3")
    user, admin = unique("u"), unique("admin")
    h = issuer.headers(user)
    await client.post("/user/progress", json=save_body("chA", "v1", completion=100, videoTitle="One",
                                                        channelName="Channel A", videoLink="https://y/1"), headers=h)
    await client.post("/user/progress", json=save_body("chA", "v2", completion=30), headers=h)
    await client.post("/user/progress", json=save_body("chB", "v3", completion=5), headers=h)
    await Compactor(mongo_db, publisher).compact_once()
    await client.post("/user/progress", json=save_body("chA", "v2", completion=55), headers=h)  # still in the journal
    listing = (await mongo_db["listings"].find_one({"_id": user}))["v"]  # kept by the compaction
    assert {key: (e["completion"], e["typed"]) for key, e in listing.items()} == {
        "chA:v1": (100, True), "chA:v2": (30, True), "chB:v3": (5, True)}

    channel = (await client.get("/user/progress/channel", params={"channelId": "chA"}, headers=h)).json()
    assert channel == {"channelId": "chA", "progress": {"v1": 100, "v2": 55}}
    listed = (await client.get("/user/progress/chA", headers=h)).json()
    assert sorted(p["videoId"] for p in listed["progress"]) == ["v1", "v2"]
    mine = (await client.get("/user/all-progress", headers=h)).json()["progress"]
    assert {(p["channelId"], p["videoId"], p["overallCompletion"]) for p in mine} == {
        ("chA", "v1", 100), ("chA", "v2", 55), ("chB", "v3", 5)}
    one = next(p for p in mine if p["videoId"] == "v1")  # named by the catalog, whatever the client sent
    assert one["videoTitle"] == "Video v1" and one["channelName"] == "Channel chA"
    assert one["videoLink"] == "https://youtu.be/v1"

    # Another learner's data: only an admin may ask, by email (user.registered projection).
    other = issuer.headers(unique("u"))
    assert (await client.get("/user/all-progress", params={"userEmail": "x@y.z"}, headers=other)).status_code == 403
    assert (await client.get("/user/progress/channel", params={"channelId": "chA"}, headers=other)).json()[
        "progress"] == {"v1": 0, "v2": 0}
    await mongo_db["users"].insert_one({"_id": user, "email": "learner@example.com"})
    ha = issuer.headers(admin, role="Admin")
    by_admin = await client.get("/user/all-progress", params={"userEmail": "Learner@Example.com"}, headers=ha)
    assert len(by_admin.json()["progress"]) == 3
    missing = await client.get("/user/all-progress", params={"userEmail": "nobody@example.com"}, headers=ha)
    assert missing.status_code == 404 and missing.json() == {"error": "User not found"}


async def test_an_admin_reads_a_registered_learners_progress_by_email(client, issuer, settings) -> None:
    """The admin user table's "View progress": the learner is known from `user.registered` as the
    consumer applies it (its directory document is written in two steps)."""
    user, email = unique("u"), f"{unique('learner')}@example.com"
    await catalogued(settings, "chA", "v1")
    registered = new_event(UserRegistered(user_id=user, email=email.upper(), username="L",
                                          created_at=datetime.now(UTC)), key=user, sequence=1)
    async with stores_for(settings) as stores:
        await handlers_by_topic(stores)["user.registered"](registered)
    await client.post("/user/progress", json=save_body("chA", "v1"), headers=issuer.headers(user))
    answer = await client.get("/user/all-progress", params={"userEmail": email},
                              headers=issuer.headers(unique("admin"), role="Admin"))
    assert answer.status_code == 200, answer.text
    assert [p["videoId"] for p in answer.json()["progress"]] == ["v1"]


async def test_channel_badges_list_every_video_of_the_channel(client, issuer, settings) -> None:
    channel, h = unique("ch"), issuer.headers(unique("u"))
    described = new_event(ChannelUpdated(channel_id=channel, name="Channel", visibility="public"), key=channel,
                          sequence=1)
    published = [new_event(VideoPublished(channel_id=channel, video_id=v, title=v, link=f"https://y/{v}"),
                           key=f"{channel}:{v}", sequence=1) for v in ("v1", "v2", "v3")]
    removed = new_event(VideoRemoved(channel_id=channel, video_id="v3"), key=f"{channel}:v3", sequence=2)
    # v4 was published, then deleted; the two topics deliver the deletion first.
    v4 = [new_event(VideoRemoved(channel_id=channel, video_id="v4"), key=f"{channel}:v4", sequence=2),
          new_event(VideoPublished(channel_id=channel, video_id="v4", title="v4", link="https://y/v4"),
                    key=f"{channel}:v4", sequence=1)]
    async with stores_for(settings) as stores:
        apply = handlers_by_topic(stores)
        for _ in range(2):  # delivered twice (a replay): the same result
            for event in [described, *published, removed, *v4]:
                await apply[event.type](event)
    await client.post("/user/progress", json=save_body(channel, "v1", completion=40), headers=h)

    async def badges() -> dict[str, float]:
        answer = await client.get("/user/progress/channel", params={"channelId": channel}, headers=h)
        assert answer.json()["channelId"] == channel
        return answer.json()["progress"]

    async def listed() -> list[str]:
        return sorted(p["videoId"] for p in (await client.get("/user/all-progress", headers=h)).json()["progress"])

    assert await badges() == {"v1": 40, "v2": 0}
    # The views are read from Redis copies; every change is seen by the next read.
    await client.post("/user/progress", json=save_body(channel, "v1", completion=60), headers=h)
    assert await badges() == {"v1": 60, "v2": 0}
    async with stores_for(settings) as stores:  # the consumer, another process
        await handlers_by_topic(stores)["video.published"](new_event(
            VideoPublished(channel_id=channel, video_id="v5", title="v5", link="https://y/v5"),
            key=f"{channel}:v5", sequence=1))
    changed = time.monotonic()  # an API process keeps a channel's videos for up to a second
    await eventually(lambda: _equals(badges(), {"v1": 60, "v2": 0, "v5": 0}), within_s=3)
    assert time.monotonic() - changed < 1.5
    # A video published a moment ago may be opened at once, whatever this process's copy says.
    async with stores_for(settings) as stores:
        await handlers_by_topic(stores)["video.published"](new_event(
            VideoPublished(channel_id=channel, video_id="v8", title="v8", link="https://y/v8"),
            key=f"{channel}:v8", sequence=1))
    opened = await client.post("/user/register_dictation", json={"channelId": channel, "videoId": "v8"}, headers=h)
    assert opened.status_code == 200, opened.text

    # A deleted video drops out of the learner's list (its progress stays stored).
    await client.post("/user/progress", json=save_body(channel, "v2", completion=20), headers=h)
    assert await listed() == ["v1", "v2"]  # v8 is registered, but nothing was typed in it
    async with stores_for(settings) as stores:
        await handlers_by_topic(stores)["video.removed"](new_event(VideoRemoved(channel_id=channel, video_id="v2"),
                                                          key=f"{channel}:v2", sequence=2))
    await eventually(lambda: _equals(listed(), ["v1"]), within_s=3)


async def test_learners_reach_only_what_the_catalog_shows_them(client, issuer, settings) -> None:
    """Made-up ids, hidden videos and private channels look the same to a learner: not found, and
    nothing is stored or counted; an admin still reaches them."""
    public, private = unique("ch"), unique("ch")
    await catalogued(settings, public, "shown")
    await catalogued(settings, public, "hidden", visibility="private")
    await catalogued(settings, private, "inside", channel_visibility="private")
    user = unique("u")
    h, admin = issuer.headers(user), issuer.headers(unique("admin"), role="Admin")
    for channel, video in ((public, "hidden"), (private, "inside"), (public, "made-up"), ("no-such-channel", "v1")):
        saved = await client.post("/user/progress", json=save_body(channel, video), headers=h)
        assert saved.status_code == 404 and saved.json() == {"error": "Video not found"}, (channel, video)
        registered = await client.post("/user/register_dictation", json={"channelId": channel, "videoId": video},
                                       headers=h)
        assert registered.status_code == 404 and registered.json() == {"error": "Video not found"}
    quota = await client.get("/user/dictation_quota", params={"channelId": public, "videoId": "shown"}, headers=h)
    assert quota.json()["used"] == 0  # nothing counted
    assert (await client.get("/user/all-progress", headers=h)).json() == {"progress": []}  # nothing stored

    badges = await client.get("/user/progress/channel", params={"channelId": public}, headers=h)
    assert badges.json()["progress"] == {"shown": 0}  # the hidden video's id is not listed
    for channel in (private, "no-such-channel"):
        refused = await client.get("/user/progress/channel", params={"channelId": channel}, headers=h)
        assert refused.status_code == 404 and refused.json() == {"error": "Channel not found"}

    for channel, video in ((public, "hidden"), (private, "inside")):
        assert (await client.post("/user/progress", json=save_body(channel, video), headers=admin)).status_code == 200
    assert (await client.get("/user/progress/channel", params={"channelId": private}, headers=admin)).json()[
        "progress"] == {"inside": 25.5}
    # A video the learner practised and the catalog hid since drops out of the learner's list.
    assert (await client.post("/user/progress", json=save_body(public, "shown"), headers=h)).status_code == 200
    assert [p["videoId"] for p in (await client.get("/user/all-progress", headers=h)).json()["progress"]] == ["shown"]
    await catalogued(settings, public, channel_visibility="private", sequence=2)

    async def listed() -> list[str]:
        return [p["videoId"] for p in (await client.get("/user/all-progress", headers=h)).json()["progress"]]
    await eventually(lambda: _equals(listed(), []), within_s=3)


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


@pytest.mark.parametrize("change", [
    {"duration": -1}, {"duration": 10**9}, {"duration": "10"}, {"overallCompletion": 101},
    {"userInput": {"a": "x"}}, {"userInput": {"1": 5}}, {"userInput": "text"}, {"channelId": "../x"},
    {"videoId": "a.b"}, {"channelId": 7}, {"role": "Admin"}, {"currentTime": -5},
])
async def test_bad_saves_are_refused_with_400(client, issuer, change, settings) -> None:
    await catalogued(settings, "ch1", "v1")
    answer = await client.post("/user/progress", json={**save_body("ch1", "v1"), **change},
                               headers=issuer.headers(unique("u")))
    assert answer.status_code == 400 and "error" in answer.json()


async def test_missing_fields_auth_and_junk(client, issuer) -> None:
    h = issuer.headers(unique("u"))
    body = save_body("ch1", "v1")
    del body["duration"]
    assert (await client.post("/user/progress", json=body, headers=h)).status_code == 400
    assert (await client.post("/user/progress", content=b"{not json", headers=h)).status_code == 400
    assert (await client.post("/user/progress", json=save_body("c", "v"))).status_code == 401
    assert (await client.get("/user/progress", params={"channelId": "c"}, headers=h)).json() == {
        "error": "channelId and videoId are required"}
    assert (await client.get("/user/progress/channel", headers=h)).status_code == 400


async def test_duration_is_clamped_to_the_time_since_the_previous_save(client, issuer, clock, settings) -> None:
    await catalogued(settings, "c", "v")
    user = unique("u")
    await signed_up(settings, user, clock.now() - timedelta(days=3))
    h = issuer.headers(user)
    first = await client.post("/user/progress", json=save_body("c", "v", duration=600), headers=h)
    assert first.json()["totalDuration"] == 600  # no previous save known: up to the 4 h ceiling
    clock.advance(timedelta(seconds=30))
    second = await client.post("/user/progress", json=save_body("c", "v", duration=3000), headers=h)
    assert second.json()["totalDuration"] == 600 + 30 + 15  # 30 s elapsed + 15 s slack


async def test_saving_more_often_never_credits_more_than_the_wall_clock(client, issuer, clock, settings) -> None:
    await catalogued(settings, "c", "v")
    user = unique("u")
    await signed_up(settings, user, clock.now() - timedelta(days=3))
    h = issuer.headers(user)
    assert (await client.post("/user/progress", json=save_body("c", "v", duration=30), headers=h)).json()[
        "totalDuration"] == 30
    # Twenty saves at once, each claiming 30 s: together they get the 15 s of slack, no more.
    saves = await asyncio.gather(*(client.post("/user/progress", json=save_body("c", "v", duration=30), headers=h)
                                   for _ in range(20)))
    assert max(r.json()["totalDuration"] for r in saves) == 30 + 15
    clock.advance(timedelta(seconds=10))  # the slack is spent: 10 s later, 10 s more
    later = await client.post("/user/progress", json=save_body("c", "v", duration=30), headers=h)
    assert later.json()["totalDuration"] == 30 + 15 + 10
    clock.advance(timedelta(seconds=60))  # a legitimate autosave rhythm credits what it claims
    for _ in range(3):
        clock.advance(timedelta(seconds=30))
        regular = await client.post("/user/progress", json=save_body("c", "v", duration=30), headers=h)
    assert regular.json()["totalDuration"] == 30 + 15 + 10 + 90


async def test_practice_starts_no_earlier_than_the_account(client, issuer, clock, settings) -> None:
    """W20: the first save of an account a few seconds old cannot claim hours of practice."""
    await catalogued(settings, "c", "v")
    fresh, unheard_of = unique("u"), unique("u")
    await signed_up(settings, fresh, clock.now() - timedelta(seconds=5))
    first = await client.post("/user/progress", json=save_body("c", "v", duration=14_400),
                              headers=issuer.headers(fresh))
    assert first.status_code == 200 and first.json()["totalDuration"] == 5 + 15  # its age, plus the slack
    # An account whose sign-up has not reached progress yet: its first save is where practice starts.
    early = await client.post("/user/progress", json=save_body("c", "v", duration=14_400),
                              headers=issuer.headers(unheard_of))
    assert early.json()["totalDuration"] == 15


async def test_a_refused_save_takes_no_practice_time(client, issuer, clock, settings) -> None:
    """A save refused (a video the catalog does not know) credits nothing, so the learner's next
    accepted save still gets the seconds that passed."""
    await catalogued(settings, "c", "v")
    learner = unique("u")
    await signed_up(settings, learner, clock.now() - timedelta(hours=1))
    clock.advance(timedelta(seconds=30))
    refused = await client.post("/user/progress", json=save_body("c", "made-up", duration=30),
                                headers=issuer.headers(learner))
    assert refused.status_code == 404
    accepted = await client.post("/user/progress", json=save_body("c", "v", duration=30),
                                 headers=issuer.headers(learner))
    assert accepted.status_code == 200 and accepted.json()["totalDuration"] == 30


async def test_missed_words_grouped_deduplicated_deleted(client, issuer) -> None:
    h = issuer.headers(unique("u"))
    added = await client.post("/user/missed-words", json={"words": ["apple", "苹果", "りんご", "사과", "яблоко",
                                                                     "apple", "Apple"]}, headers=h)
    assert added.status_code == 200
    assert added.json()["structured_missed_words"] == {"zh": ["苹果"], "ja": ["りんご"], "ko": ["사과"],
                                                       "en": ["apple", "Apple"], "other": ["яблоко"]}
    assert added.json()["message"] == "Missed words updated successfully"
    read = (await client.get("/user/missed-words", headers=h)).json()  # now also in the Redis copy
    assert read["structured_missed_words"] == added.json()["structured_missed_words"]
    again = await client.post("/user/missed-words", json={"words": ["apple", "banana"]}, headers=h)
    assert again.json()["structured_missed_words"]["en"] == ["apple", "Apple", "banana"]
    read = (await client.get("/user/missed-words", headers=h)).json()
    assert read["structured_missed_words"]["en"] == ["apple", "Apple", "banana"]
    deleted = await client.request("DELETE", "/user/missed-words", json={"words": ["苹果", "apple"]}, headers=h)
    assert deleted.json()["message"] == "Words deleted successfully"
    assert deleted.json()["structured_missed_words"] == {"ja": ["りんご"], "ko": ["사과"], "en": ["Apple", "banana"],
                                                         "other": ["яблоко"]}
    listed = (await client.get("/user/missed-words", headers=h)).json()
    assert listed["missed_words"] == ["りんご", "사과", "Apple", "banana", "яблоко"]
    assert (await client.get("/user/missed-words", headers=issuer.headers(unique("u")))).json() == {
        "missed_words": [], "structured_missed_words": {}}
    for bad in ({"words": "apple"}, {"words": [1]}, {}, {"words": ["x" * 101]}, {"words": ["a"] * 501}):
        assert (await client.post("/user/missed-words", json=bad, headers=h)).status_code == 400


async def test_the_missed_words_bound_holds_under_concurrent_adds(client, issuer, mongo_db) -> None:
    user = unique("u")
    h = issuer.headers(user)
    for start in range(0, 4_500, 500):
        assert (await client.post("/user/missed-words", json={"words": [f"w{i}" for i in range(start, start + 500)]},
                                  headers=h)).status_code == 200
    answers = await asyncio.gather(*(
        client.post("/user/missed-words", json={"words": [f"add{n}-{i}" for i in range(500)]}, headers=h)
        for n in range(10)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 9
    assert all("Too many missed words" in a.json()["error"] for a in answers if a.status_code == 400)
    stored = await mongo_db["missed_words"].find_one({"_id": user})
    assert sum(len(ws) for ws in stored["words"].values()) == 5_000
    assert len((await client.get("/user/missed-words", headers=h)).json()["missed_words"]) == 5_000


async def test_a_store_failure_answers_503_and_is_not_acknowledged(settings, issuer, clock) -> None:
    await catalogued(settings, "c", "v")
    app = api_app(settings, clock=clock)
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                       base_url="http://p") as http:
        async def broken(*_a, **_k):
            raise AutoReconnect("store down")
        app.state.ctx.progress.journal.collection.insert_one = broken
        answer = await http.post("/user/progress", json=save_body("c", "v"), headers=issuer.headers(unique("u")))
        assert answer.status_code == 503 and answer.json() == {"error": "Progress could not be saved, please retry"}


async def test_an_idle_compactor_sleeps_until_a_journal_write_nudges_it(settings, publisher) -> None:
    async with stores_for(settings) as stores:
        nudge = journal_nudge(stores.redis, unique("progress"))
        writer, compactor = JournalWriter(stores.db, nudge=nudge), Compactor(stores.db, publisher, nudge=nudge)
        async with running(compactor.run):
            await asyncio.sleep(0.5)  # nothing to do: it waits for a nudge (up to 30 s), not polling
            user = unique("u")
            written = time.monotonic()
            await writer.append({"k": progress_key(user, "c", "v"), "u": user, "c": "c", "v": "v",
                                 "in": {"0": "hello"}, "t": 1, "p": 10.0, "at": 1}, None)

            async def compacted() -> bool:
                return await stores.db[JOURNAL].count_documents({}) == 0

            await eventually(compacted, within_s=5)
            assert time.monotonic() - written < 2


async def test_a_batch_stored_late_by_another_api_replica_never_takes_back_a_newer_save(
        settings, mongo_db, redis, publisher) -> None:
    """Two API replicas: replica A forms its batch first (an earlier id) but stores it after
    replica B's later batch was compacted. The newer save's values stay; the late batch only
    fills what the newer one did not send. Readers merging the journal agree with the compactor."""
    user = unique("u")
    key = progress_key(user, "c", "v")

    def save(inputs: dict[str, str], completion: float) -> dict:
        return {"k": key, "u": user, "c": "c", "v": "v", "in": inputs, "t": 1, "p": completion, "at": 1}

    late = batch_document([save({"0": "old words", "1": "only the old save typed this"}, 10.0)], [])  # replica A
    newer = batch_document([save({"0": "new words"}, 60.0)], [])  # replica B, formed after A's batch
    assert late["_id"] < newer["_id"]
    listings = DocumentCache(redis, unique("t"), "listing")
    reader = ProgressReader(mongo_db, listings)
    await mongo_db[JOURNAL].insert_one(newer)
    while await Compactor(mongo_db, publisher).compact_once():
        pass
    await mongo_db[JOURNAL].insert_one(late)  # A's write lands now
    expected = {"0": "new words", "1": "only the old save typed this"}
    merged = await reader.one(user, key)  # the journal merged on read
    assert merged["input"] == expected and merged["completion"] == 60.0
    while await Compactor(mongo_db, publisher).compact_once():
        pass
    stored = await mongo_db[progress_collection(user)].find_one({"_id": key})
    assert stored["input"] == expected and stored["completion"] == 60.0 and stored["js"] == newer["_id"]


async def test_a_listing_read_while_its_save_is_compacted_still_shows_the_save(
        settings, mongo_db, redis, publisher) -> None:
    """A list view read races the compactor (nudged by the very save it should show): the round
    writes the listing document and deletes the batch between the reader's two reads. The reader
    must still see the save, and must not leave a copy without it in Redis."""
    user = unique("u")
    key = progress_key(user, "c", "v")
    await mongo_db[JOURNAL].insert_one(batch_document(
        [{"k": key, "u": user, "c": "c", "v": "v", "in": {"0": "the park"}, "t": 1, "p": 20.0, "at": 1}], []))
    reader = ProgressReader(mongo_db, DocumentCache(redis, unique("t"), "listing"))
    await mongo_db["listings"].insert_one({"_id": user, "v": {}})  # the learner has a listing already
    read_pending = reader._pending

    async def compacted_in_between(query: dict[str, Any]) -> list:
        while await Compactor(mongo_db, publisher).compact_once():
            pass
        return await read_pending(query)

    reader._pending = compacted_in_between  # type: ignore[method-assign]
    assert [(e["video_id"], e["completion"]) for e in await reader.listing(user)] == [("v", 20.0)]
    reader._pending = read_pending  # type: ignore[method-assign]
    assert [(e["video_id"], e["completion"]) for e in await reader.listing(user)] == [("v", 20.0)]  # the copy
