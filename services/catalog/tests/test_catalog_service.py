"""The catalog's use cases on in-memory fakes (no servers): channel and video changes with their
events, the upload, submissions, analytics, and the consumer's typed handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from ds_catalog.adapters.cache import CHANNELS, POOL, videos_scope
from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.domain.analytics import video_analytics
from ds_catalog.domain.errors import (
    DuplicateChannelIds,
    InvalidApproval,
    InvalidTranscriptFile,
    LinkMismatch,
    NothingToUpdate,
)
from ds_catalog.domain.uploads import UploadRequest, read_transcript, srt_video_id
from ds_catalog.domain.values import video_key
from ds_catalog.messaging.handlers import handlers_on
from ds_catalog.service.analytics import Analytics
from ds_catalog.service.channels import Channels
from ds_catalog.service.submissions import Submissions
from ds_catalog.service.uploads import Uploads
from ds_catalog.service.videos import Videos
from ds_catalog.settings import Settings
from ds_common.auth import Principal
from ds_common.errors import Conflict, NotFound
from ds_common.events.consumer import handlers
from ds_common.events.contracts import TranscriptReady, UserRegistered, VideoStarted
from ds_common.events.envelope import new_event
from ds_common.events.memory import InMemoryBus
from ds_common.mongo import Document
from ds_common.testing.kit import InMemoryDocuments

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SRT = b"1\n00:00:00,000 --> 00:00:01,500\nHello there\n\n2\n00:00:02,000 --> 00:00:03,000\nGeneral Kenobi\n"


class FixedClock:
    def now(self) -> datetime:
        return NOW


class FakeCache:
    """The read cache without Redis: builds every time, remembers the scopes invalidated."""

    def __init__(self) -> None:
        self.invalidated: list[str] = []

    async def get_or_build(self, scope: str, key: str, build: Callable[[], Awaitable[Any]]) -> Any:
        return await build()

    async def invalidate(self, *scopes: str) -> None:
        self.invalidated += scopes


class FakeCatalog:
    """CatalogRepo's documents and queries over two `InMemoryDocuments` sharing one bus."""

    def __init__(self, bus: InMemoryBus) -> None:
        self.channel_docs = InMemoryDocuments(bus)
        self.video_docs = InMemoryDocuments(bus, version_field="seq")

    def _videos(self) -> list[Document]:
        return list(self.video_docs.docs.values())

    async def list_channels(self, *, visibility: str | None, language: str | None, limit: int) -> list[Document]:
        return [c for c in self.channel_docs.docs.values()
                if visibility in (None, c.get("visibility")) and language in (None, c.get("language"))][:limit]

    async def add_videos_to_channel(self, channel_id: str, video_ids: Sequence[str],
                                    public_ids: Sequence[str] = ()) -> None:
        for name, ids in (("videos", video_ids), ("public_videos", public_ids)):
            listed = self.channel_docs.docs[channel_id].setdefault(name, [])
            listed += [v for v in dict.fromkeys(ids) if v not in listed]  # as $addToSet

    async def remove_video_from_channel(self, channel_id: str, video_id: str) -> None:
        for name in ("videos", "public_videos", "refined_videos"):
            listed = self.channel_docs.docs[channel_id].get(name, [])
            if video_id in listed:
                listed.remove(video_id)

    async def mark_in_channel(self, channel_id: str, video_id: str, listed: str, present: bool) -> None:
        ids = self.channel_docs.docs[channel_id].setdefault(f"{listed}_videos", [])
        if present and video_id not in ids:
            ids.append(video_id)
        elif not present and video_id in ids:
            ids.remove(video_id)

    async def get_video(self, channel_id: str, video_id: str) -> Document | None:
        doc = self.video_docs.docs.get(video_key(channel_id, video_id))
        return None if doc is None or doc.get("removed") else doc

    async def videos_of(self, channel_id: str, video_ids: Sequence[str]) -> list[Document]:
        return [d for v in video_ids if (d := await self.get_video(channel_id, v)) is not None]

    async def video_states(self, keys: Sequence[str]) -> dict[str, Document]:
        return {k: self.video_docs.docs[k] for k in keys if k in self.video_docs.docs}

    async def video_titles(self, keys: Sequence[str]) -> list[Document | None]:
        return [self.video_docs.docs.get(k) for k in keys]


class FakeSubmissionsStore:
    def __init__(self, starts: dict[str, int] | None = None) -> None:
        self.recommendations: dict[str, Document] = {}
        self.reports: dict[str, Document] = {}
        self.starts = starts or {}

    async def add_recommendation(self, doc: Document) -> None:
        self.recommendations[doc["id"]] = dict(doc)

    async def get_recommendation(self, rec_id: str) -> Document | None:
        return self.recommendations.get(rec_id)

    async def decide_recommendation(self, rec_id: str, fields: dict[str, Any], unset: tuple[str, ...] = ()) -> Document:
        doc = self.recommendations[rec_id]
        doc.update(fields)
        for name in unset:
            doc.pop(name, None)
        return dict(doc)

    async def add_report(self, doc: Document) -> None:
        self.reports[doc["id"]] = dict(doc)

    async def username_of(self, user_id: str) -> str | None:
        return None

    async def starts_by_video(self) -> dict[str, int]:
        return self.starts


class NoLimit:
    async def hit(self, bucket: str, subject: str, *, limit: int, window_s: int) -> None:
        return None


class Catalog:
    """The use cases wired on the fakes, as main.context wires them on the stores."""

    def __init__(self) -> None:
        self.bus = InMemoryBus()
        self.store = FakeCatalog(self.bus)
        self.cache = FakeCache()
        self.submissions_store = FakeSubmissionsStore()
        settings, clock = Settings(environment="test"), FixedClock()
        self.channels = Channels(self.store, self.cache, clock, settings)  # type: ignore[arg-type]
        self.videos = Videos(self.store, self.cache, clock, settings)  # type: ignore[arg-type]
        self.uploads = Uploads(self.store, self.cache, clock)  # type: ignore[arg-type]
        self.submissions = Submissions(self.submissions_store, self.store, self.channels, NoLimit(),  # type: ignore[arg-type]
                                       clock, settings)
        self.analytics = Analytics(self.store, self.submissions_store, clock, settings)  # type: ignore[arg-type]

    def events(self, key: str) -> list[tuple[str, int, dict[str, Any]]]:
        return [(e.type, e.sequence, e.data) for e in self.bus.published if e.key == key]

    async def channel(self, channel_id: str = "UCchannel", **fields: Any) -> str:
        await self.channels.save([{"id": channel_id, "name": "A channel", "image_url": "https://img.example/c.png",
                                   "link": "https://youtube.example/c", "language": "en", "visibility": "public",
                                   **fields}])
        return channel_id

    async def video(self, channel_id: str, video_id: str, **fields: Any) -> None:
        item = UploadRequest(channel_id, f"https://youtu.be/{video_id}", fields.get("title", f"Video {video_id}"),
                             fields.get("visibility", "public"))
        (result,) = await self.uploads.upload([item], {video_id: read_transcript(f"{video_id}.srt", SRT)})
        assert result.success, result


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


# --- channels ---------------------------------------------------------------------------------
async def test_channel_changes_carry_channel_updated_with_the_channel_version(catalog: Catalog) -> None:
    channel_id = await catalog.channel(name="First")
    await catalog.channel(name="First")  # the same values again: no change, no event
    await catalog.channels.update(channel_id, {"visibility": "private"})
    await catalog.channels.update(channel_id, {"visibility": "private"})  # unchanged again
    await catalog.channel(name="Renamed", visibility="private")

    events = catalog.events(channel_id)
    assert [(kind, seq, data["name"], data["visibility"]) for kind, seq, data in events] == [
        ("channel.updated", 1, "First", "public"), ("channel.updated", 2, "First", "private"),
        ("channel.updated", 3, "Renamed", "private")]
    assert events[0][2] == {"channel_id": channel_id, "name": "First", "image_url": "https://img.example/c.png",
                            "link": "https://youtube.example/c", "language": "en", "visibility": "public"}
    assert {CHANNELS, POOL, videos_scope(channel_id)} <= set(catalog.cache.invalidated)
    doc = catalog.store.channel_docs.docs[channel_id]
    assert (doc["version"], doc["videos"], doc["created_at"]) == (3, [], NOW)


async def test_channel_refusals_write_nothing(catalog: Catalog) -> None:
    one = {"id": "UCone", "name": "n", "image_url": "i", "link": "l", "language": "en", "visibility": "public"}
    with pytest.raises(DuplicateChannelIds):
        await catalog.channels.save([one, {**one, "name": "other"}])
    with pytest.raises(NothingToUpdate):
        await catalog.channels.update("UCone", {})
    with pytest.raises(NotFound, match="Channel not found"):
        await catalog.channels.update("UCone", {"name": "x"})
    assert catalog.bus.published == [] and catalog.store.channel_docs.docs == {}


async def test_learners_see_public_channels_only(catalog: Catalog) -> None:
    await catalog.channel("UCpublic")
    await catalog.channel("UCprivate", visibility="private")

    def render(docs: list[Document]) -> bytes:
        return ",".join(sorted(d["_id"] for d in docs)).encode()

    assert await catalog.channels.listing("all", "all", admin=True, render=render) == b"UCprivate,UCpublic"
    assert await catalog.channels.listing("all", "all", admin=False, render=render) == b"UCpublic"
    assert await catalog.channels.listing("private", "all", admin=False, render=render) == b""
    with pytest.raises(NotFound):
        await catalog.channels.get("UCprivate", admin=False)
    assert (await catalog.channels.get("UCprivate", admin=True))["_id"] == "UCprivate"


# --- videos -----------------------------------------------------------------------------------
async def test_video_edits_and_removal_publish_updated_then_removed(catalog: Catalog) -> None:
    channel_id = await catalog.channel()
    await catalog.video(channel_id, "vid00000001")
    key = video_key(channel_id, "vid00000001")

    await catalog.videos.update(channel_id, "vid00000001", {"title": "Renamed"})
    results = await catalog.videos.set_visibility(channel_id, "private")
    assert results == [{"video_id": "vid00000001", "success": True, "message": "Visibility updated"}]
    await catalog.videos.remove(channel_id, "vid00000001")

    events = catalog.events(key)
    assert [(kind, seq) for kind, seq, _ in events] == [
        ("video.published", 1), ("video.updated", 2), ("video.updated", 3), ("video.removed", 4)]
    assert events[1][2] == {"channel_id": channel_id, "video_id": "vid00000001", "title": "Renamed",
                            "link": "https://youtu.be/vid00000001", "language": "en", "visibility": "public"}
    assert events[2][2]["visibility"] == "private" and events[3][2] == {"channel_id": channel_id,
                                                                       "video_id": "vid00000001"}
    stored = catalog.store.video_docs.docs[key]
    assert (stored["removed"], stored["removed_at"], stored["seq"]) == (True, NOW, 4)
    assert catalog.store.channel_docs.docs[channel_id]["videos"] == []

    with pytest.raises(NotFound, match="Video not found"):  # a tombstone is not a video
        await catalog.videos.remove(channel_id, "vid00000001")
    with pytest.raises(NotFound, match="Video not found"):
        await catalog.videos.update(channel_id, "vid00000001", {"title": "x"})
    assert len(catalog.events(key)) == 4


async def test_video_edit_refusals(catalog: Catalog) -> None:
    channel_id = await catalog.channel()
    await catalog.video(channel_id, "vid00000001")
    with pytest.raises(NothingToUpdate):
        await catalog.videos.update(channel_id, "vid00000001", {})
    with pytest.raises(LinkMismatch):
        await catalog.videos.update(channel_id, "vid00000001", {"link": "https://youtu.be/another0001"})
    await catalog.videos.update(channel_id, "vid00000001", {"link": "https://www.youtube.com/watch?v=vid00000001"})
    empty = await catalog.channel("UCempty")
    with pytest.raises(NotFound, match=f"No videos found in channel {empty}"):
        await catalog.videos.set_visibility(empty, "public")



class LosingCollection:
    """A video collection where another writer always wins the compare-and-set."""

    name = "videos"

    async def find_one(self, *_: Any) -> Document:
        return {"_id": "UCa:vid00000001", "channel_id": "UCa", "video_id": "vid00000001", "removed": False, "seq": 1}

    async def update_one(self, *_: Any) -> SimpleNamespace:
        return SimpleNamespace(matched_count=0)


async def test_a_video_that_keeps_changing_answers_busy() -> None:
    repo = CatalogRepo({"channels": LosingCollection(), "videos": LosingCollection()})  # type: ignore[arg-type]
    videos = Videos(repo, FakeCache(), FixedClock(), Settings(environment="test"))  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="The video is being changed by someone else; please retry"):
        await videos.update("UCa", "vid00000001", {"title": "x"})

# --- upload -----------------------------------------------------------------------------------
async def test_upload_classifies_each_item_and_publishes_the_transcript(catalog: Catalog) -> None:
    channel_id = await catalog.channel(language="ja")
    await catalog.video(channel_id, "existing001")
    transcript = read_transcript("x.srt", SRT)

    def item(video: str, **fields: Any) -> UploadRequest:
        return UploadRequest(fields.get("channel_id", channel_id), fields.get("link", f"https://youtu.be/{video}"),
                             fields.get("title", "A title"), "public")

    results = await catalog.uploads.upload(
        [item("newvideo001"), item("existing001"), item("nosrt000001"), item("notitle0001", title=""),
         item("x", channel_id="UCmissing"), item("x", link="https://example.com/watch?v=x"),
         item("newvideo001")],  # twice in one upload
        {v: transcript for v in ("newvideo001", "existing001", "notitle0001")})

    assert [(r.video_id, r.success, r.message, r.duplicate) for r in results] == [
        (None, False, "Invalid YouTube link: no video id found", False),
        ("existing001", False, "Video already exists", True),
        ("newvideo001", True, "Video uploaded successfully", False),
        ("newvideo001", False, "Video already exists", True),
        ("nosrt000001", False, "No SRT transcript file provided for video nosrt000001", False),
        ("notitle0001", False, "Title is required", False),
        ("x", False, "Channel UCmissing not found", False),
    ]
    assert results[2].transcript_count == 2
    (published,) = [e for e in catalog.bus.of_type("video.published") if e.key == f"{channel_id}:newvideo001"]
    assert (published.sequence, published.producer) == (1, "catalog")
    assert published.data["language"] == "ja" and published.data["transcript_source"] == "uploaded_srt"
    assert published.data["transcript"] == [{"start": 0.0, "end": 1.5, "transcript": "Hello there"},
                                            {"start": 2.0, "end": 3.0, "transcript": "General Kenobi"}]
    assert published.data["srt_text"] is None  # the lines only: the text would double the event
    assert catalog.store.channel_docs.docs[channel_id]["videos"] == ["existing001", "newvideo001"]


async def test_a_removed_video_uploaded_again_is_revived_with_its_sequence_continuing(catalog: Catalog) -> None:
    channel_id = await catalog.channel()
    await catalog.video(channel_id, "vid00000001", title="First")
    await catalog.videos.remove(channel_id, "vid00000001")
    await catalog.video(channel_id, "vid00000001", title="Again")

    key = video_key(channel_id, "vid00000001")
    assert [(kind, seq) for kind, seq, _ in catalog.events(key)] == [
        ("video.published", 1), ("video.removed", 2), ("video.published", 3)]
    stored = catalog.store.video_docs.docs[key]
    assert (stored["removed"], stored["seq"], stored["title"]) == (False, 3, "Again")
    assert catalog.store.channel_docs.docs[channel_id]["videos"] == ["vid00000001"]


def test_upload_files_are_read_before_anything_is_stored() -> None:
    assert srt_video_id("dQw4w9WgXcQ.SRT") == "dQw4w9WgXcQ"
    assert [srt_video_id(n) for n in ("notes.txt", "bad name.srt", "a:b.srt", ".srt")] == [None] * 4
    assert [c.transcript for c in read_transcript("v.srt", SRT).cues] == ["Hello there", "General Kenobi"]
    with pytest.raises(InvalidTranscriptFile, match=r"^Invalid SRT file v\.srt: block 1 has no valid timing line$"):
        read_transcript("v.srt", b"1\nno timing\nText\n")
    with pytest.raises(InvalidTranscriptFile, match="UTF-8"):
        read_transcript("v.srt", b"\xff\xfe garbage")


# --- submissions ------------------------------------------------------------------------------
async def test_an_approval_creates_the_channel_once(catalog: Catalog) -> None:
    alice = Principal(user_id="alice", role="User", session_id="s", email="alice@example.com")
    first = await catalog.submissions.recommend(alice, name="Chan", link="https://youtube.example/c", language="ko")
    second = await catalog.submissions.recommend(alice, name="Chan", link="https://youtube.example/c", language="ko")
    assert "userEmail" not in first and first["status"] == "pending"

    with pytest.raises(InvalidApproval, match="channelId and imageUrl"):
        await catalog.submissions.decide(first["id"], "admin", {"status": "approved"})
    approve = {"status": "approved", "channelId": "UCapproved", "imageUrl": "https://img.example/a.png"}
    approved, doc = await catalog.submissions.decide(first["id"], "admin", approve)
    assert approved and (doc["status"], doc["channelId"], doc["language"], doc["decidedBy"]) == (
        "approved", "UCapproved", "ko", "admin")
    assert (await catalog.submissions.decide(first["id"], "admin", approve))[0]  # a retry: still approved
    approved, doc = await catalog.submissions.decide(second["id"], "admin", approve)
    assert not approved and (doc["status"], doc["reason"]) == ("rejected", "Channel already exists")

    assert [(kind, seq, data["name"], data["language"]) for kind, seq, data in catalog.events("UCapproved")] == [
        ("channel.updated", 1, "Chan", "ko")]
    with pytest.raises(NotFound, match="Recommendation not found"):
        await catalog.submissions.decide("nope", "admin", {"status": "rejected"})


async def test_error_reports_need_a_live_video(catalog: Catalog) -> None:
    channel_id = await catalog.channel()
    await catalog.video(channel_id, "vid00000001")
    bob = Principal(user_id="bob", role="User", session_id="s", email="bob@example.com")
    fields = {"channelId": channel_id, "videoId": "vid00000001", "channelName": "", "videoTitle": "t",
              "errorType": "other", "description": "d"}
    report_id = await catalog.submissions.report(bob, fields)
    assert catalog.submissions_store.reports[report_id]["userName"] == "bob"
    await catalog.videos.remove(channel_id, "vid00000001")
    with pytest.raises(NotFound, match="Video not found"):
        await catalog.submissions.report(bob, fields)


# --- analytics --------------------------------------------------------------------------------
def test_analytics_count_live_videos_per_channel_and_rank_starts() -> None:
    channels = [{"_id": "UCa", "name": "A", "videos": ["v1", "v2"], "public_videos": ["v1"], "refined_videos": ["v1"]},
                {"_id": "UCb", "name": "B", "videos": ["v3"], "public_videos": ["v3"]},
                {"_id": "UCempty", "name": "E"}]
    body = video_analytics(channels, {"UCa:v2": 5, "UCb:v3": 2, "UCgone:v9": 7},
                           {"UCa:v2": "Two", "UCb:v3": "Three"})
    assert body["summary"] == {"total_videos": 3, "public_videos": 2, "private_videos": 1, "refined_videos": 1,
                               "unrefined_videos": 2, "total_starts": 7}
    assert body["channels"] == [
        {"channel_id": "UCa", "channel_name": "A", "total_videos": 2, "public_videos": 1, "private_videos": 1,
         "refined_videos": 1, "starts": 5},
        {"channel_id": "UCb", "channel_name": "B", "total_videos": 1, "public_videos": 1, "private_videos": 0,
         "refined_videos": 0, "starts": 2},
        {"channel_id": "UCempty", "channel_name": "E", "total_videos": 0, "public_videos": 0, "private_videos": 0,
         "refined_videos": 0, "starts": 0}]
    assert body["popular_videos"] == [{"channel_id": "UCa", "video_id": "v2", "title": "Two", "starts": 5},
                                      {"channel_id": "UCb", "video_id": "v3", "title": "Three", "starts": 2}]


async def test_analytics_service_counts_what_is_stored(catalog: Catalog) -> None:
    channel_id = await catalog.channel()
    await catalog.video(channel_id, "vid00000001")
    await catalog.video(channel_id, "vid00000002", visibility="private")
    await catalog.videos.remove(channel_id, "vid00000002")
    catalog.submissions_store.starts = {video_key(channel_id, "vid00000001"): 3}
    body = await catalog.analytics.videos()
    assert body["summary"]["total_videos"] == 1 and body["summary"]["total_starts"] == 3
    assert body["timestamp"] == NOW.isoformat()
    assert await catalog.analytics.totals() == {"total_channels": 1, "total_videos": 1,
                                                "timestamp": NOW.isoformat()}


# --- consumer ---------------------------------------------------------------------------------
class RecordingProjections:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., Awaitable[None]]:
        async def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))
        return record


async def test_handlers_get_typed_payloads() -> None:
    projections = RecordingProjections()
    registered = handlers(handlers_on(projections))  # type: ignore[arg-type]
    ready = new_event(TranscriptReady(channel_id="UCa", video_id="v1", line_count=3, source="uploaded_srt"),
                      key="UCa:v1", sequence=4, occurred_at=NOW)
    started = new_event(VideoStarted(user_id="u", channel_id="UCa", video_id="v1", cycle_start=NOW, cycle_end=NOW),
                        key="u", sequence=1)
    named = new_event(UserRegistered(user_id="u", email="u@example.com", username="Zoë", created_at=NOW),
                      key="u", sequence=2)
    for event in (ready, started, named):
        await registered[event.type](event)  # type: ignore[operator]
    assert projections.calls == [
        ("transcript_state", ("UCa", "v1", 4, NOW), {
            "status": {"transcript_status": "ready", "transcript_count": 3, "transcript_source": "uploaded_srt"},
            "refinement": {"is_refined": False, "refined_at": None}}),
        ("video_started", (started.id, "UCa", "v1", started.occurred_at), {}),
        ("user_named", ("u", 2, "u@example.com", "Zoë"), {}),
    ]
