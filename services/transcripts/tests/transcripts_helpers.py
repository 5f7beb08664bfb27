"""Test helpers: recorded YouTube, a progress stand-in, and the transcripts processes in-process.

- YouTube is offline here. `RecordedYouTube` serves, through `responses`, the fixtures that ship
  with youtube-transcript-api (its own test assets) and the yt-dlp subtitle files recorded under
  fixtures/ytdlp/, so the real library code paths run: page scraping, innertube parsing, track
  choice, XML / json3 / vtt parsing, and the error classes.
- yt-dlp's info extraction needs YouTube's live player; it is the one step replaced, by a recorded
  info dict (`fixtures/ytdlp/<id>.info.json`). yt-dlp then runs its own subtitle selection
  (`process_ie_result`) and downloads the file through `ydl.urlopen`, served by `responses`.
- Progress is built by another team at the same time. `ProgressStandIn` is a tiny real HTTP
  server on loopback (ds_common.testing.loopback) implementing the agreed contract
  (`GET /internal/access/{ch}/{v}` with the learner's bearer token → `{"allowed", "reason"}`), so
  the service's real HTTP client is exercised.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import responses
import yt_dlp
from ds_common.events.consumer import AnyHandler
from ds_common.events.consumer import handlers as by_topic
from ds_common.events.contracts import ChannelUpdated, VideoPublished
from ds_common.events.envelope import Envelope, EventData, new_event
from ds_common.runtime import Stores
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_common.testing.kit import in_process
from ds_common.testing.loopback import LoopbackServer
from ds_transcripts.adapters.fetcher import Fetcher
from ds_transcripts.adapters.youtube import YouTubeTranscripts
from ds_transcripts.adapters.ytdlp import YtDlpSubtitles
from ds_transcripts.main import api_app
from ds_transcripts.messaging.handlers import handlers
from ds_transcripts.service.transcripts import Transcripts
from ds_transcripts.service.videos import Enqueue, VideoEvents
from ds_transcripts.settings import Settings
from fastapi import FastAPI
from yt_dlp.utils import DownloadError

FIXTURES = Path(__file__).parent / "fixtures"
ASSETS = resources.files("youtube_transcript_api") / "test" / "assets"
WATCH = "https://www.youtube.com/watch"
PLAYER = "https://www.youtube.com/youtubei/v1/player"
TIMEDTEXT = "https://www.youtube.com/api/timedtext"
# The reference transcript of youtube-transcript-api's own fixture (its empty line is dropped).
PRIMARY_LINES = [
    {"start": 0.0, "end": 1.54, "transcript": "Hey, this is just a test"},
    {"start": 1.54, "end": 5.7, "transcript": "this is not the original transcript"},
    {"start": 5.7, "end": 8.94, "transcript": "just something shorter, I made up for testing"},
]


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


def recorded_info(ydl: yt_dlp.YoutubeDL, url: str) -> dict[str, Any]:
    """Stands in for `ydl.extract_info(url, process=False)`: the recorded info of that video."""
    video_id = parse_qs(urlparse(url).query)["v"][0]
    path = FIXTURES / "ytdlp" / f"{video_id}.info.json"
    if not path.exists():
        raise DownloadError(f"ERROR: [youtube] {video_id}: Video unavailable")
    info: dict[str, Any] = json.loads(path.read_text())
    return info


def recorded_fetcher(threads: int = 2) -> Fetcher:
    return Fetcher(YouTubeTranscripts(timeout_s=5), YtDlpSubtitles(timeout_s=5, info_loader=recorded_info),
                   threads=threads, timeout_s=20)


class RecordedYouTube:
    """`responses` serving recorded YouTube answers per video id, counting upstream calls.

    `scenario[video_id]` picks the innertube answer: "ok" (default), "disabled", "po_token",
    "unavailable", "bot" (login required: request blocked) or "ip_blocked" (the watch page is
    the too-many-requests page). Subtitle files (fmt=json3/vtt) come from fixtures/ytdlp;
    `rate_limited` lists videos whose subtitle download answers 429.
    """

    INNERTUBE = {"ok": "youtube.innertube.json.static",
                 "disabled": "youtube_transcripts_disabled.innertube.json.static",
                 "po_token": "youtube_po_token_required.innertube.json.static",
                 "unavailable": "youtube_video_unavailable.innertube.json.static",
                 "bot": "youtube_request_blocked.innertube.json.static"}

    def __init__(self, scenario: dict[str, str] | None = None, *, delay_s: float = 0.0,
                 slow: dict[str, float] | None = None, rate_limited: tuple[str, ...] = ()) -> None:
        self.scenario = scenario or {}
        self.delay_s = delay_s
        self.slow = slow or {}
        self.rate_limited = rate_limited
        self.watch_calls: Counter[str] = Counter()
        self.subtitle_calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)

    def _watch(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        video_id = parse_qs(urlparse(request.url).query).get("v", [""])[0]
        with self._lock:
            self.watch_calls[video_id] += 1
        time.sleep(self.slow.get(video_id, self.delay_s))  # widens the window in which misses overlap
        if self.scenario.get(video_id) == "ip_blocked":
            return 200, {}, asset("youtube_too_many_requests.html.static")
        return 200, {}, asset("youtube.html.static")

    def _player(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        video_id = json.loads(request.body)["videoId"]
        name = self.INNERTUBE[self.scenario.get(video_id, "ok")]
        return 200, {"Content-Type": "application/json"}, asset(name)

    def _timedtext(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        query = parse_qs(urlparse(request.url).query)
        video_id, fmt = query.get("v", [""])[0], query.get("fmt", [""])[0]
        if not fmt:
            return 200, {}, asset("transcript.xml.static")
        with self._lock:
            self.subtitle_calls[video_id] += 1
        if video_id in self.rate_limited:
            return 429, {}, b"Too Many Requests"
        path = FIXTURES / "ytdlp" / f"{video_id}.{query.get('lang', ['en'])[0]}.{fmt}"
        return (200, {}, path.read_bytes()) if path.exists() else (404, {}, b"")

    def __enter__(self) -> RecordedYouTube:
        self.mock.__enter__()
        self.mock.add_callback(responses.GET, WATCH, callback=self._watch)
        self.mock.add_callback(responses.POST, PLAYER, callback=self._player)
        self.mock.add_callback(responses.GET, TIMEDTEXT, callback=self._timedtext)
        return self

    def __exit__(self, *exc: object) -> None:
        self.mock.__exit__(*exc)


class ProgressStandIn:
    """The agreed progress contract on loopback: admin, paid, registered, else the quota is full."""

    def __init__(self, issuer: TestIssuer) -> None:
        self.issuer = issuer
        self.registered: set[tuple[str, str, str]] = set()
        self.paid: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []
        self.fail = False
        self._server: LoopbackServer | None = None
        self.url = ""

    def answer(self, authorization: str, path: str) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["internal", "access"]:
            return 404, {"error": "Not found"}
        try:
            claims = jwt.decode(authorization.removeprefix("Bearer "), self.issuer.private_key.public_key(),
                                algorithms=["EdDSA"], audience=self.issuer.audience, issuer=self.issuer.issuer)
        except jwt.InvalidTokenError:
            return 401, {"error": "Invalid token"}
        user, channel_id, video_id = claims["sub"], parts[2], parts[3]
        self.calls.append((user, channel_id, video_id))
        if self.fail:
            return 500, {"error": "Internal Server Error"}
        if claims["role"] == "Admin":
            return 200, {"allowed": True, "reason": "admin"}
        if user in self.paid:
            return 200, {"allowed": True, "reason": "paid"}
        if (user, channel_id, video_id) in self.registered:
            return 200, {"allowed": True, "reason": "registered"}
        return 200, {"allowed": False, "reason": "quota_exceeded"}

    def _respond(self, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        return self.answer(authorization, path)

    def serve(self) -> str:
        self._server = LoopbackServer(self._respond, path="")
        self.url = self._server.url
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def fresh_db_name() -> str:
    return "tx" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:12]


def settings_for(endpoints: Endpoints, issuer: TestIssuer, progress_url: str, db: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "service_name": "txtest" + uuid.uuid4().hex[:8],  # own Redis key space: locks, cache, block flag
        "mongo_url": endpoints.mongo_url, "mongo_db": db, "redis_url": endpoints.redis_url,
        "kafka_bootstrap": endpoints.kafka_bootstrap, "jwks_url": issuer.url, "progress_url": progress_url,
        "blocked_backoff_s": 30, "fetch_wait_s": 10, "consumer_group": "txtest-" + uuid.uuid4().hex[:8],
        "prefetch_sweep_interval_s": 1.0,
    }
    return Settings(**{**values, **overrides})


def envelope(data: EventData, *, key: str, sequence: int = 1, occurred_at: datetime | None = None) -> Envelope:
    return new_event(data, key=key, sequence=sequence, occurred_at=occurred_at)


def published(channel_id: str, video_id: str, *, lines: list[dict[str, Any]] | None = None, srt: str | None = None,
              title: str = "A video", language: str = "en", visibility: str = "public") -> VideoPublished:
    uploaded = lines is not None or srt is not None
    return VideoPublished(channel_id=channel_id, video_id=video_id, title=title, language=language,
                          visibility=visibility,
                          link=f"https://www.youtube.com/watch?v={video_id}",
                          transcript_source="uploaded_srt" if uploaded else "youtube",
                          transcript=lines, srt_text=srt)  # type: ignore[arg-type]


def consumer_handlers(stores: Stores, enqueue: Enqueue, transcripts: Transcripts) -> dict[str, AnyHandler]:
    """The consumer's real handlers by topic, as its runner calls them (each parses its payload)."""
    return by_topic(handlers(stores, VideoEvents(transcripts, enqueue)))


@dataclass
class Harness:
    """The API app in-process, plus the real consumer handlers applied directly (no Kafka)."""

    client: httpx.AsyncClient
    app: FastAPI
    enqueued: list[tuple[str, str]] = field(default_factory=list)

    @property
    def transcripts(self) -> Transcripts:
        transcripts: Transcripts = self.app.state.ctx.transcripts
        return transcripts

    @property
    def stores(self) -> Stores:
        stores: Stores = self.app.state.stores
        return stores

    @property
    def db(self) -> Any:
        return self.stores.db

    async def publish(self, channel_id: str, video_id: str, **kwargs: Any) -> None:
        """The catalog's events for a new video (its channel announced first, public)."""
        await self.describe_channel(channel_id)
        await self.handle("video.published",
                          envelope(published(channel_id, video_id, **kwargs), key=f"{channel_id}:{video_id}"))

    async def describe_channel(self, channel_id: str, visibility: str = "public", sequence: int = 1) -> None:
        await self.handle("channel.updated", envelope(ChannelUpdated(channel_id=channel_id, name="A channel",
                                                                     visibility=visibility),
                                                      key=channel_id, sequence=sequence))

    async def handle(self, event_type: str, event: Envelope) -> None:
        on = consumer_handlers(self.stores, lambda c, v: self.enqueued.append((c, v)), self.transcripts)
        await on[event_type](event)  # type: ignore[operator]

    async def doc(self, channel_id: str, video_id: str) -> dict[str, Any] | None:
        """The stored document as it is, its outbox included."""
        doc: dict[str, Any] | None = await self.db.transcripts.find_one({"_id": f"{channel_id}:{video_id}"})
        return doc


@contextlib.asynccontextmanager
async def harness(settings: Settings, fetcher: Fetcher | None = None) -> AsyncIterator[Harness]:
    app = api_app(settings, fetcher=fetcher or recorded_fetcher())
    async with in_process(app, base_url="http://transcripts") as client:
        yield Harness(client, app)


@contextlib.contextmanager
def no_youtube() -> Iterator[RecordedYouTube]:
    """A recorder with no scenario, to prove a path made no upstream call."""
    with RecordedYouTube() as recorder:
        yield recorder


