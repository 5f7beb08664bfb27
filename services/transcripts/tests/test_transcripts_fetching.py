"""Fetch paths against recorded YouTube answers, on real FerretDB and Redis: primary, fallback,
none available, blocked; single flight; the admin's live fetch."""

import asyncio

import pytest
from ds_common.events.contracts import VideoRemoved
from ds_common.testing.jwks import TestIssuer
from ds_transcripts.settings import Settings
from transcripts_helpers import PRIMARY_LINES, RecordedYouTube, envelope, harness

pytestmark = pytest.mark.integration
CH = "UCfetching"


def admin(issuer: TestIssuer) -> dict[str, str]:
    return issuer.headers("admin-1", role="Admin")


async def test_primary_path_stores_serves_and_caches(settings: Settings, issuer: TestIssuer) -> None:
    with RecordedYouTube() as youtube:
        async with harness(settings) as h:
            await h.publish(CH, "GJLlxj_dtq8", title="Primary")
            assert h.enqueued == [(CH, "GJLlxj_dtq8")]  # the consumer would prefetch it
            r = await h.client.get(f"/service/video-transcript/{CH}/GJLlxj_dtq8", headers=admin(issuer))
            assert r.status_code == 200, r.text
            assert r.json() == {"channel_id": CH, "video_id": "GJLlxj_dtq8", "title": "Primary",
                                "transcript": PRIMARY_LINES}
            doc = await h.doc(CH, "GJLlxj_dtq8")
            assert doc["status"] == "ready" and doc["source"] == "youtube" and doc["fetched_language"] == "en"
            assert doc["transcript"] == PRIMARY_LINES and "source_transcript" not in doc  # one copy of the lines
            assert doc["_outbox"][0]["type"] == "transcript.ready"
            again = await h.client.get(f"/service/video-transcript/{CH}/GJLlxj_dtq8", headers=admin(issuer))
            assert again.content == r.content
    assert youtube.watch_calls["GJLlxj_dtq8"] == 1


@pytest.mark.parametrize(("video_id", "primary_failure", "expected"), [
    ("fallbackJs3", "po_token", ["welcome back to the channel", "today we practise listening", "[Music]"]),
    ("fallbackVtt", "bot", ["good morning everyone", "let's start with numbers", "one two three"]),
])
async def test_fallback_to_ytdlp_subtitles(settings: Settings, issuer: TestIssuer, video_id: str,
                                           primary_failure: str, expected: list[str]) -> None:
    with RecordedYouTube({video_id: primary_failure}) as youtube:
        async with harness(settings) as h:
            await h.publish(CH, video_id)
            r = await h.client.get(f"/service/video-transcript/{CH}/{video_id}", headers=admin(issuer))
            assert r.status_code == 200, r.text
            assert [x["transcript"] for x in r.json()["transcript"]] == expected
            doc = await h.doc(CH, video_id)
            assert doc["source"] == "yt_dlp" and doc["fetched_language"] == "en"
    assert youtube.watch_calls[video_id] == 1 and youtube.subtitle_calls[video_id] == 1


async def test_no_transcript_anywhere_is_a_404_with_reason(settings: Settings, issuer: TestIssuer) -> None:
    with RecordedYouTube({"noCaptions1": "disabled", "goneVideo01": "unavailable"}) as youtube:
        async with harness(settings) as h:
            await h.publish(CH, "noCaptions1")
            await h.publish(CH, "goneVideo01")
            for _ in range(2):  # the second answer comes from the store, without asking YouTube again
                r = await h.client.get(f"/service/video-transcript/{CH}/noCaptions1", headers=admin(issuer))
                assert r.status_code == 404
                assert r.json() == {"error": "No transcript available for video noCaptions1",
                                    "reason": "transcripts_disabled"}
            gone = await h.client.get(f"/service/video-transcript/{CH}/goneVideo01", headers=admin(issuer))
            assert gone.status_code == 404 and gone.json()["reason"] == "video_unavailable"
            doc = await h.doc(CH, "noCaptions1")
            assert doc["status"] == "unavailable"
            assert [e["type"] for e in doc["_outbox"]] == ["transcript.failed"]
            assert doc["_outbox"][0]["data"]["retryable"] is False
            unknown = await h.client.get(f"/service/video-transcript/{CH}/neverPublished", headers=admin(issuer))
            assert unknown.status_code == 404 and unknown.json() == {"error": "Video not found"}
    assert youtube.watch_calls["noCaptions1"] == 1
    assert youtube.subtitle_calls["goneVideo01"] == 0  # the video is gone: no fallback attempt


async def test_blocked_is_a_503_with_retry_after_and_backs_off(settings: Settings, issuer: TestIssuer) -> None:
    with RecordedYouTube({"blockedVid1": "ip_blocked"}, rate_limited=("blockedVid1",)) as youtube:
        async with harness(settings) as h:
            await h.publish(CH, "blockedVid1")
            await h.publish(CH, "GJLlxj_dtq8")
            r = await h.client.get(f"/service/video-transcript/{CH}/blockedVid1", headers=admin(issuer))
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "30" and r.json()["retry_after"] == 30
            doc = await h.doc(CH, "blockedVid1")
            assert doc["status"] == "pending" and doc["failure"]["reason"] in ("ip_blocked", "ytdlp_http_429")
            assert doc["_outbox"][0]["data"]["retryable"] is True
            # while backing off, neither this video nor any other goes upstream
            again = await h.client.get(f"/service/video-transcript/{CH}/blockedVid1", headers=admin(issuer))
            other = await h.client.get(f"/service/video-transcript/{CH}/GJLlxj_dtq8", headers=admin(issuer))
            assert again.status_code == 503 and 0 < int(again.headers["Retry-After"]) <= 31
            assert other.status_code == 503 and int(other.headers["Retry-After"]) > 0
    assert youtube.watch_calls == {"blockedVid1": 1} and youtube.subtitle_calls == {"blockedVid1": 1}


async def test_concurrent_misses_make_one_upstream_call(settings: Settings, issuer: TestIssuer) -> None:
    with RecordedYouTube(delay_s=0.5) as youtube:
        # two API processes' worth of state (separate in-process futures) sharing Redis and the store
        async with harness(settings) as one, harness(settings) as two:
            await one.publish(CH, "GJLlxj_dtq8")
            path = f"/service/video-transcript/{CH}/GJLlxj_dtq8"
            answers = await asyncio.gather(*(h.client.get(path, headers=admin(issuer))
                                             for h in (one, two) for _ in range(8)))
    assert [a.status_code for a in answers] == [200] * 16
    assert len({a.content for a in answers}) == 1
    assert youtube.watch_calls["GJLlxj_dtq8"] == 1


async def test_admin_live_fetch_returns_lines_and_stores_nothing(settings: Settings, issuer: TestIssuer) -> None:
    with RecordedYouTube({"noCaptions1": "disabled"}):
        async with harness(settings) as h:
            url = "/service/transcript"
            r = await h.client.post(url, json={"url": "https://youtu.be/GJLlxj_dtq8"}, headers=admin(issuer))
            assert r.status_code == 200 and r.json() == PRIMARY_LINES
            assert await h.db.transcripts.count_documents({}) == 0
            none = await h.client.post(url, json={"url": "https://www.youtube.com/watch?v=noCaptions1"},
                                       headers=admin(issuer))
            assert none.status_code == 404 and none.json()["reason"] == "transcripts_disabled"
            bad = await h.client.post(url, json={"url": "https://example.com/x"}, headers=admin(issuer))
            assert bad.status_code == 400 and bad.json() == {"error": "Invalid YouTube URL"}
            extra = await h.client.post(url, json={"url": "https://youtu.be/GJLlxj_dtq8", "x": 1},
                                        headers=admin(issuer))
            assert extra.status_code == 400
            learner = await h.client.post(url, json={"url": "https://youtu.be/GJLlxj_dtq8"},
                                          headers=issuer.headers("learner"))
            assert learner.status_code == 403


async def test_the_small_collections_beside_the_transcripts_follow_every_write(settings: Settings,
                                                                               issuer: TestIssuer) -> None:
    """`fetch_queue` (what the consumer's sweep fetches) and `channel_videos` (the admin summary)
    are kept by the store's writes, so neither needs a query over the big documents; a start-up
    check repairs what a crash between two writes left out."""
    with RecordedYouTube():
        async with harness(settings) as h:
            store = h.transcripts.store
            await h.publish("UCsmall", "GJLlxj_dtq8")  # a YouTube video: pending, due now
            await h.publish("UCsmall", "uploadVid01", lines=[{"start": 0, "end": 1, "transcript": "hi"}])
            due = await store.due_for_fetch(h.transcripts.clock.now())
            assert [(d["channel_id"], d["video_id"]) for d in due] == [("UCsmall", "GJLlxj_dtq8")]
            listed = await h.db.channel_videos.find_one({"_id": "UCsmall"})
            assert sorted(listed["videos"]) == ["GJLlxj_dtq8", "uploadVid01"]

            assert (await h.client.get("/service/video-transcript/UCsmall/GJLlxj_dtq8",
                                       headers=admin(issuer))).status_code == 200  # fetched on read
            assert await store.due_for_fetch(h.transcripts.clock.now()) == []
            await h.handle("video.removed", envelope(VideoRemoved(channel_id="UCsmall", video_id="uploadVid01"),
                                                     key="UCsmall:uploadVid01", sequence=2))
            assert (await h.db.channel_videos.find_one({"_id": "UCsmall"}))["videos"] == ["GJLlxj_dtq8"]

            # A crash between a document's write and its index's: the start-up check puts it back.
            await h.publish("UCsmall", "pendingVid1")
            await h.db.fetch_queue.delete_many({})
            await h.db.channel_videos.delete_many({})
            assert await store.reconcile() >= 2
            assert [d["video_id"] for d in await store.due_for_fetch(h.transcripts.clock.now())] == ["pendingVid1"]
            assert sorted((await h.db.channel_videos.find_one({"_id": "UCsmall"}))["videos"]) == [
                "GJLlxj_dtq8", "pendingVid1"]
