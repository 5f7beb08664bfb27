"""The use cases on fakes, without servers: the catalog's video events, fetching, editing, access.

The transcripts are versioned documents in memory (ds_common.testing.kit.InMemoryDocuments) whose
events land on an InMemoryBus, as the relay would publish them; the cache, the single flight, the
upstream fetcher, the access projections and progress are small in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from ds_common.auth import Principal
from ds_common.errors import ServiceUnavailable
from ds_common.events.contracts import Entitlement, VideoPublished, VideoRemoved
from ds_common.events.envelope import Envelope, EventData, new_event
from ds_common.events.memory import InMemoryBus
from ds_common.testing.kit import InMemoryDocuments, MovableClock
from ds_transcripts.adapters.cache import render
from ds_transcripts.adapters.progress import AccessAnswer
from ds_transcripts.adapters.projections import Standing
from ds_transcripts.adapters.store import TranscriptStore
from ds_transcripts.domain.access import REFUSALS, AccessRefused, allowed_until, refusal, shown
from ds_transcripts.domain.fetching import Blocked, Fetched, FetchFailed, NoTranscript
from ds_transcripts.domain.transcript import InvalidTranscriptIndex, TranscriptUnavailable, VideoNotFound
from ds_transcripts.service.access_control import AccessControl
from ds_transcripts.service.editing import Editor
from ds_transcripts.service.transcripts import Transcripts
from ds_transcripts.service.videos import VideoEvents

T = TypeVar("T")
CH, VIDEO = "UCservice", "serviceVid1"
SRT = "1\n00:00:00,000 --> 00:00:02,000\nHello there\n\n2\n00:00:02,000 --> 00:00:03,000\nGeneral Kenobi\n"
UPLOADED = [{"start": 0.0, "end": 2.0, "transcript": "Hello there"},
            {"start": 2.0, "end": 3.0, "transcript": "General Kenobi"}]
FETCHED = [{"start": 0.0, "end": 1.0, "transcript": "from YouTube"}]


# --- fakes ----------------------------------------------------------------------------------------
class FakeCache:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], bytes | None] = {}

    async def get(self, channel_id: str, video_id: str) -> bytes | None:
        return self.entries.get((channel_id, video_id))

    async def put(self, doc: dict[str, Any]) -> None:
        ready = doc.get("status") == "ready"
        self.entries[(doc["channel_id"], doc["video_id"])] = render(doc) if ready else None


class OneCaller:
    """The single flight, in one process without Redis: the work runs for the caller."""

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        return await work()


class FakeBlock:
    def __init__(self) -> None:
        self.blocked: tuple[str, int] | None = None

    async def remaining_s(self) -> int:
        return self.blocked[1] if self.blocked else 0

    async def block(self, reason: str, seconds: int) -> None:
        self.blocked = (reason, seconds)


class FakeFetcher:
    def __init__(self, *answers: Fetched | FetchFailed) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def fetch(self, video_id: str, language: str) -> Fetched:
        self.calls.append(video_id)
        answer = self.answers.pop(0)
        if isinstance(answer, FetchFailed):
            raise answer
        return answer


class FakeProjections:
    """Every video is shown to learners unless its channel or itself is in `hidden`."""

    def __init__(self) -> None:
        self.entitlements: dict[str, dict[str, Any]] = {}
        self.registrations: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.hidden: set[str] = set()

    async def lookup(self, user_id: str, channel_id: str, video_id: str) -> Standing:
        def visibility(name: str) -> dict[str, str]:
            return {"visibility": "private" if name in self.hidden else "public"}
        return Standing(self.entitlements.get(user_id), self.registrations.get((user_id, channel_id, video_id)),
                        visibility(channel_id), visibility(video_id))


class FakeProgress:
    def __init__(self, answer: AccessAnswer) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str]] = []

    async def access(self, token: str, channel_id: str, video_id: str) -> AccessAnswer:
        self.asked.append((token, channel_id, video_id))
        return self.answer


class World:
    """The transcripts use cases on fakes."""

    def __init__(self, *answers: Fetched | FetchFailed) -> None:
        self.bus = InMemoryBus()
        self.documents = InMemoryDocuments(self.bus)
        self.clock = MovableClock()
        self.cache = FakeCache()
        self.fetcher = FakeFetcher(*answers)
        self.block = FakeBlock()
        self.enqueued: list[tuple[str, str]] = []
        self.transcripts = Transcripts(TranscriptStore(self.documents, clock=self.clock), self.cache,  # type: ignore[arg-type]
                                       self.fetcher, OneCaller(), self.block, backoff_s=30,  # type: ignore[arg-type]
                                       backoff_max_s=600, clock=self.clock)
        self.videos = VideoEvents(self.transcripts, lambda c, v: self.enqueued.append((c, v)))
        self.editor = Editor(self.transcripts, filters=None, clock=self.clock)  # type: ignore[arg-type]

    def doc(self, video_id: str = VIDEO) -> dict[str, Any]:
        return self.documents.docs[f"{CH}:{video_id}"]

    def published(self, type_: str) -> list[Envelope]:
        return self.bus.of_type(type_)


def event(data: EventData, occurred_at: datetime | None = None) -> Envelope:
    return new_event(data, key=f"{CH}:{VIDEO}", sequence=1, occurred_at=occurred_at)


def uploaded(video_id: str = VIDEO, srt: str = SRT) -> VideoPublished:
    return VideoPublished(channel_id=CH, video_id=video_id, title="A video", link="x",
                          transcript_source="uploaded_srt", srt_text=srt)


def from_youtube(video_id: str = VIDEO) -> VideoPublished:
    return VideoPublished(channel_id=CH, video_id=video_id, title="A video", link="x")


# --- the catalog's video events -------------------------------------------------------------------
async def test_uploaded_lines_are_stored_and_announced_with_their_count() -> None:
    world = World()
    published = event(uploaded())
    await world.videos.published(uploaded(), published)

    doc = world.doc()
    assert doc["status"] == "ready" and doc["transcript"] == UPLOADED and "source_transcript" not in doc
    assert (doc["channel_id"], doc["video_id"], doc["line_count"], doc["version"]) == (CH, VIDEO, 2, 1)
    assert doc["created_at"] == doc["updated_at"]
    [ready] = world.published("transcript.ready")
    assert ready.data["line_count"] == 2 and ready.data["source"] == "uploaded_srt"
    assert (ready.key, ready.sequence, ready.causation_id, ready.producer) == (f"{CH}:{VIDEO}", 1, published.id,
                                                                                "transcripts")
    assert world.enqueued == []  # nothing to fetch
    assert await world.transcripts.serve(CH, VIDEO) == render(doc)  # from the cache

    await world.videos.published(uploaded(), published)  # redelivered: nothing changes
    assert world.doc()["version"] == 1 and len(world.published("transcript.ready")) == 1


async def test_an_empty_upload_makes_the_video_unavailable() -> None:
    world = World()
    await world.videos.published(uploaded(srt="nothing here"), event(uploaded()))
    assert world.doc()["status"] == "unavailable"
    [failed] = world.published("transcript.failed")
    assert failed.data["reason"] == "empty_srt" and failed.data["retryable"] is False
    with pytest.raises(TranscriptUnavailable) as refused:
        await world.transcripts.serve(CH, VIDEO)
    assert refused.value.details == {"reason": "empty_srt"}


async def test_a_youtube_video_is_queued_then_fetched_once() -> None:
    world = World(Fetched(FETCHED, "youtube", "en"))
    await world.videos.published(from_youtube(), event(from_youtube()))
    assert world.doc()["status"] == "pending" and world.enqueued == [(CH, VIDEO)]
    assert world.published("transcript.ready") == []

    for _ in range(2):  # the second read comes from the cache
        assert await world.transcripts.serve(CH, VIDEO) == render(world.doc())
    assert world.fetcher.calls == [VIDEO]
    assert world.doc()["status"] == "ready" and world.doc()["fetched_language"] == "en"
    [ready] = world.published("transcript.ready")
    assert ready.data["source"] == "youtube" and ready.data["line_count"] == 1 and ready.sequence == 2


async def test_a_blocked_fetch_backs_off_and_no_transcript_is_final() -> None:
    world = World(Blocked("ip_blocked"), NoTranscript("transcripts_disabled"))
    await world.videos.published(from_youtube(), event(from_youtube()))
    with pytest.raises(ServiceUnavailable) as blocked:
        await world.transcripts.serve(CH, VIDEO)
    assert blocked.value.headers == {"Retry-After": "30"} and world.block.blocked == ("ip_blocked", 30)
    assert world.doc()["status"] == "pending" and world.doc()["failure"]["attempts"] == 1
    assert abs(world.doc()["retry_at"] - (world.clock.now() + timedelta(seconds=30))) < timedelta(seconds=2)

    world.block.blocked = None
    with world.clock.moved(timedelta(seconds=31)), pytest.raises(TranscriptUnavailable):
        await world.transcripts.serve(CH, VIDEO)
    assert world.doc()["status"] == "unavailable"
    assert [e.data["retryable"] for e in world.published("transcript.failed")] == [True, False]


async def test_a_removal_tombstones_and_an_older_publish_is_ignored() -> None:
    world = World()
    now = datetime.now(UTC)
    await world.videos.published(uploaded(), event(uploaded(), now - timedelta(minutes=2)))
    removed = VideoRemoved(channel_id=CH, video_id=VIDEO)
    await world.videos.removed(removed, event(removed, now))

    doc = world.doc()
    assert doc["status"] == "removed" and doc["removed_at"] == now and doc["line_count"] == 0
    assert not {"transcript", "source_transcript", "original_transcript"} & set(doc)
    with pytest.raises(VideoNotFound):
        await world.transcripts.serve(CH, VIDEO)

    await world.videos.published(uploaded(), event(uploaded(), now - timedelta(minutes=1)))  # late delivery
    assert world.doc()["status"] == "removed"
    await world.videos.published(uploaded(), event(uploaded(), now + timedelta(minutes=1)))  # published again
    assert world.doc()["status"] == "ready"


# --- editing --------------------------------------------------------------------------------------
async def test_editing_keeps_the_original_once_and_restores_it() -> None:
    world = World()
    await world.videos.published(uploaded(), event(uploaded()))
    first = [{"start": 0.0, "end": 1.0, "transcript": "One"}]
    second = [{"start": 0.0, "end": 1.0, "transcript": "Two"}]
    await world.editor.replace(CH, VIDEO, first)  # type: ignore[arg-type]
    await world.editor.replace(CH, VIDEO, second)  # type: ignore[arg-type]
    doc = world.doc()
    assert doc["transcript"] == second and doc["original_transcript"] == UPLOADED and doc["has_original"] is True
    assert [e.data["source"] for e in world.published("transcript.ready")] == ["uploaded_srt", "edited", "edited"]
    assert [e.sequence for e in world.published("transcript.ready")] == [1, 2, 3]
    assert await world.transcripts.serve(CH, VIDEO) == render(doc)  # the cache follows the edit

    restored = await world.editor.restore(CH, VIDEO)
    assert restored["transcript"] == UPLOADED and "original_transcript" not in world.doc()
    await world.editor.update_line(CH, VIDEO, 1, {"start": 2.0, "end": 3.0, "transcript": "Fixed"})
    assert world.doc()["original_transcript"] == UPLOADED  # a new snapshot, of the restored lines
    assert (await world.editor.restore(CH, VIDEO))["transcript"] == UPLOADED


async def test_edits_of_unknown_videos_or_lines_are_refused_without_a_write() -> None:
    world = World()
    with pytest.raises(VideoNotFound, match=f"Video missingVid1 not found in channel {CH}"):
        await world.editor.replace(CH, "missingVid1", UPLOADED)  # type: ignore[arg-type]
    assert world.documents.docs == {}
    await world.videos.published(uploaded(), event(uploaded()))
    with pytest.raises(InvalidTranscriptIndex):
        await world.editor.update_line(CH, VIDEO, 2, {"start": 0.0, "end": 1.0, "transcript": "x"})
    outcome = await world.editor.apply_filters(CH, VIDEO, ["nowhere"])
    assert outcome.result.total_changes == 0
    assert world.doc()["version"] == 1  # neither wrote


async def test_marking_refined_is_announced() -> None:
    world = World()
    await world.videos.published(uploaded(), event(uploaded()))
    marked = await world.editor.mark_refined(CH, VIDEO, True)
    assert marked["is_refined"] is True and marked["refined_at"] == world.doc()["refined_at"]
    await world.editor.mark_refined(CH, VIDEO, False)
    assert "refined_at" not in world.doc()
    assert [e.data["is_refined"] for e in world.published("transcript.refined")] == [True, False]


# --- access ---------------------------------------------------------------------------------------
def learner(user_id: str = "learner1", role: str = "User") -> Principal:
    return Principal(user_id=user_id, role=role, session_id="s1", token=f"token-of-{user_id}")  # type: ignore[arg-type]


def access(projections: FakeProjections, progress: FakeProgress) -> AccessControl:
    return AccessControl(projections, progress, ttl_s=30)


async def test_paid_and_registered_learners_are_let_in_by_the_projections() -> None:
    now = datetime.now(UTC)
    projections, progress = FakeProjections(), FakeProgress(AccessAnswer(False, "quota_exceeded"))
    projections.entitlements["paid"] = Entitlement(plan="Pro", expires_at=now + timedelta(days=3)).model_dump()
    projections.registrations[("reg", CH, VIDEO)] = {"cycle_end": now + timedelta(days=3)}
    control = access(projections, progress)
    for user in (learner("paid"), learner("reg"), learner("admin", role="Admin")):
        await control.ensure_allowed(user, CH, VIDEO)
    assert progress.asked == []


async def test_a_projection_miss_asks_progress_with_the_learners_token() -> None:
    now = datetime.now(UTC)
    projections, progress = FakeProjections(), FakeProgress(AccessAnswer(True, "registered"))
    projections.entitlements["learner1"] = Entitlement(plan="Pro", expires_at=now - timedelta(seconds=1)).model_dump()
    projections.registrations[("learner1", CH, VIDEO)] = {"cycle_end": now - timedelta(minutes=1)}
    control = access(projections, progress)
    await control.ensure_allowed(learner(), CH, VIDEO)
    await control.ensure_allowed(learner(), CH, VIDEO)  # the decision is reused a while
    assert progress.asked == [("token-of-learner1", CH, VIDEO)]


@pytest.mark.parametrize(("reason", "message", "details"), [
    ("quota_exceeded", REFUSALS["quota_exceeded"], {"reason": "quota_exceeded"}),
    ("preview_limit", REFUSALS["preview_limit"], {"reason": "preview_limit"}),
    ("", REFUSALS["quota_exceeded"], {"reason": "quota_exceeded"}),
])
async def test_refusals_carry_progress_reason_and_are_not_remembered(reason: str, message: str,
                                                                     details: dict[str, str]) -> None:
    progress = FakeProgress(AccessAnswer(False, reason))
    control = access(FakeProjections(), progress)
    for _ in range(2):
        with pytest.raises(AccessRefused) as refused:
            await control.ensure_allowed(learner(), CH, VIDEO)
        assert refused.value.message == message and refused.value.details == details
    assert len(progress.asked) == 2


async def test_what_the_catalog_hides_is_not_found_whatever_the_plan() -> None:
    now = datetime.now(UTC)
    projections, progress = FakeProjections(), FakeProgress(AccessAnswer(True, "preview"))
    projections.entitlements["paid"] = Entitlement(plan="Pro", expires_at=now + timedelta(days=3)).model_dump()
    projections.registrations[("reg", "UChidden", VIDEO)] = {"cycle_end": now + timedelta(days=3)}
    projections.hidden |= {"UChidden", "hiddenVid01"}
    control = access(projections, progress)
    for user, channel, video in (("paid", CH, "hiddenVid01"), ("reg", "UChidden", VIDEO), ("free", CH, "hiddenVid01")):
        with pytest.raises(VideoNotFound):
            await control.ensure_allowed(learner(user), channel, video)
        with pytest.raises(VideoNotFound):
            await control.ensure_shown(learner(user), channel, video)
    assert progress.asked == []  # not even counted as a preview
    await control.ensure_allowed(learner("admin", role="Admin"), "UChidden", "hiddenVid01")
    await control.ensure_shown(learner("admin", role="Admin"), "UChidden", "hiddenVid01")
    assert not shown({"visibility": "public"}, {"visibility": "public", "status": "removed"})
    assert not shown(None, {"visibility": "public"}) and not shown({"visibility": "public"}, None)
    assert shown({"visibility": "public"}, {"visibility": "public", "status": "ready"})


def test_refusal_messages_and_the_access_rule() -> None:
    assert REFUSALS == {
        "quota_exceeded": "Your free quota for this cycle is used up; upgrade your plan to practise this video",
        "preview_limit": "You opened many new videos today; start this video to read its transcript",
    }
    assert refusal("something_new").details == {"reason": "something_new"}
    now = datetime(2026, 3, 1, tzinfo=UTC)
    later = now + timedelta(days=2)
    assert allowed_until({"plan": "Basic", "status": "active", "expires_at": later}, None, now) == later
    assert allowed_until({"plan": "Free"}, {"cycle_end": later}, now) == later
    assert allowed_until({"plan": "Pro", "status": "expired", "expires_at": later}, {"cycle_end": now}, now) is None
    assert allowed_until(None, None, now) is None
