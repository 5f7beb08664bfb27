"""youtube-transcript-api 1.x: the primary path. Synchronous (requests); run in a worker thread.

Failures are mapped to the domain's outcomes: the video has no transcript (404 with a reason),
YouTube blocks us (503, back off), or a temporary upstream error (503, retry soon).
"""

from __future__ import annotations

from typing import Any

import requests
import youtube_transcript_api as yta
from youtube_transcript_api.proxies import GenericProxyConfig

from ds_transcripts.domain.fetching import Blocked, Fetched, FetchFailed, NoTranscript, Temporary
from ds_transcripts.domain.language import choose_track
from ds_transcripts.domain.lines import from_timed

_NO_TRANSCRIPT: dict[type[Exception], str] = {
    yta.TranscriptsDisabled: "transcripts_disabled",
    yta.NoTranscriptFound: "no_transcript_found",
    yta.VideoUnavailable: "video_unavailable",
    yta.InvalidVideoId: "invalid_video_id",
    yta.AgeRestricted: "age_restricted",
    yta.VideoUnplayable: "video_unplayable",
}
_BLOCKED: dict[type[Exception], str] = {
    yta.IpBlocked: "ip_blocked",
    yta.RequestBlocked: "request_blocked",
    yta.PoTokenRequired: "po_token_required",
}


class TimeoutSession(requests.Session):
    """requests has no session-wide timeout; a fetch must never hang a worker thread."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


def map_error(exc: Exception) -> FetchFailed:
    for table, kind in ((_BLOCKED, Blocked), (_NO_TRANSCRIPT, NoTranscript)):
        for cls, reason in table.items():
            if isinstance(exc, cls):
                return kind(reason, type(exc).__name__)
    return Temporary("youtube_request_failed", type(exc).__name__)


class YouTubeTranscripts:
    def __init__(self, *, timeout_s: float = 15.0, proxy_url: str | None = None) -> None:
        self.timeout_s = timeout_s
        self.proxy_url = proxy_url

    def fetch(self, video_id: str, language: str = "en") -> Fetched:
        # One client per call: YouTubeTranscriptApi is not thread-safe.
        proxy = GenericProxyConfig(http_url=self.proxy_url, https_url=self.proxy_url) if self.proxy_url else None
        api = yta.YouTubeTranscriptApi(proxy_config=proxy, http_client=TimeoutSession(self.timeout_s))
        try:
            tracks = list(api.list(video_id))
            track = choose_track(tracks, language)
            if track is None:
                raise NoTranscript("no_transcript_found", "no caption tracks listed")
            fetched = track.fetch()
        except FetchFailed:
            raise
        except (yta.YouTubeTranscriptApiException, requests.RequestException) as exc:
            raise map_error(exc) from exc
        lines = from_timed((s.start, s.duration, s.text) for s in fetched.snippets)
        if not lines:
            raise NoTranscript("empty_transcript", f"track {track.language_code} has no text")
        return Fetched(lines, "youtube", track.language_code)
