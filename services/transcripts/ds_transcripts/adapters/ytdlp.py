"""yt-dlp subtitles: the fallback path. Synchronous; run in a worker thread.

yt-dlp extracts the video's info, its own `process_subtitles` picks the track (manual before
automatic, in the order of `subtitleslangs`, format json3 then vtt), and the subtitle file is
downloaded through `ydl.urlopen` (yt-dlp's cookies, proxy and headers). Only the info extraction
is replaceable (`info_loader`), so tests can feed a recorded info dict and still run the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import yt_dlp
from yt_dlp import webvtt
from yt_dlp.networking.exceptions import HTTPError, RequestError
from yt_dlp.utils import DownloadError, ExtractorError

from ds_transcripts.domain.fetching import Blocked, Fetched, FetchFailed, NoTranscript, Temporary
from ds_transcripts.domain.language import subtitle_preferences
from ds_transcripts.domain.lines import Line, from_timed

InfoLoader = Callable[[yt_dlp.YoutubeDL, str], dict[str, Any]]
_TAGS = re.compile(r"<[^>]+>")
_BLOCKED_HINTS = ("not a bot", "http error 429", "too many requests")
_GONE_HINTS = ("video unavailable", "private video", "has been removed", "confirm your age", "age-restricted",
               "members-only", "this video is not available")


class _Quiet:
    """yt-dlp logs warnings (no formats, JS runtime) that mean nothing for subtitles."""

    def debug(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...


def extract_online(ydl: yt_dlp.YoutubeDL, url: str) -> dict[str, Any]:
    info: dict[str, Any] = ydl.extract_info(url, download=False, process=False)
    return info


def classify(message: str) -> FetchFailed:
    text = message.lower()
    if any(h in text for h in _BLOCKED_HINTS):
        return Blocked("ytdlp_blocked", message[:200])
    if any(h in text for h in _GONE_HINTS):
        return NoTranscript("video_unavailable", message[:200])
    return Temporary("ytdlp_failed", message[:200])


def parse_json3(raw: bytes) -> list[Line]:
    events = json.loads(raw).get("events") or []
    return from_timed(
        (e.get("tStartMs", 0) / 1000, e.get("dDurationMs", 0) / 1000, "".join(s.get("utf8", "") for s in e["segs"]))
        for e in events if e.get("segs"))


def parse_vtt(raw: bytes) -> list[Line]:
    timed: list[tuple[float, float, str]] = []
    previous: list[str] = []
    for block in webvtt.parse_fragment(raw):
        if not isinstance(block, webvtt.CueBlock):
            continue
        rows = [row.strip() for row in _TAGS.sub("", block.text).splitlines() if row.strip()]
        # Automatic captions scroll: each cue repeats the previous cue's rows before its new one.
        new = [row for row in rows if row not in previous]
        previous = rows
        if new:
            start = block.start / 90_000  # MPEG ticks at 90 kHz
            timed.append((start, block.end / 90_000 - start, " ".join(new)))
    return from_timed(timed)


PARSERS = {"json3": parse_json3, "vtt": parse_vtt}


class YtDlpSubtitles:
    def __init__(self, *, timeout_s: float = 15.0, proxy_url: str | None = None, cookie_file: str | None = None,
                 info_loader: InfoLoader = extract_online) -> None:
        self.timeout_s = timeout_s
        self.proxy_url = proxy_url
        self.cookie_file = cookie_file
        self.info_loader = info_loader

    def options(self, language: str) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "skip_download": True, "writesubtitles": True, "writeautomaticsub": True,
            "subtitleslangs": subtitle_preferences(language), "subtitlesformat": "json3/vtt",
            "quiet": True, "no_warnings": True, "noplaylist": True, "logger": _Quiet(),
            "ignore_no_formats_error": True, "socket_timeout": self.timeout_s,
        }
        if self.proxy_url:
            opts["proxy"] = self.proxy_url
        if self.cookie_file:
            opts["cookiefile"] = self.cookie_file
        return opts

    def fetch(self, video_id: str, language: str = "en") -> Fetched:
        url = f"https://www.youtube.com/watch?v={video_id}"
        try:
            with yt_dlp.YoutubeDL(self.options(language)) as ydl:
                info = ydl.process_ie_result(self.info_loader(ydl, url), download=False)
                chosen = self._choose(info.get("requested_subtitles") or {}, language)
                if chosen is None:
                    raise NoTranscript("no_subtitles", "yt-dlp found no subtitles in the wanted languages")
                code, sub = chosen
                raw = ydl.urlopen(sub["url"]).read()
        except FetchFailed:
            raise
        except HTTPError as exc:
            raise (Blocked("ytdlp_http_429", str(exc)) if exc.status == 429 else
                   Temporary("ytdlp_http_error", str(exc))) from exc
        except RequestError as exc:
            raise Temporary("ytdlp_network", str(exc)[:200]) from exc
        except (DownloadError, ExtractorError) as exc:
            raise classify(str(exc)) from exc
        try:
            lines = PARSERS[sub["ext"]](raw)
        except (ValueError, KeyError, webvtt.ParseError) as exc:
            raise Temporary("ytdlp_unparsable", f"{sub.get('ext')}: {exc}") from exc
        if not lines:
            raise NoTranscript("empty_transcript", f"subtitles {code} have no text")
        return Fetched(lines, "yt_dlp", code)

    @staticmethod
    def _choose(requested: dict[str, dict[str, Any]], language: str) -> tuple[str, dict[str, Any]] | None:
        for pref in subtitle_preferences(language):
            pattern = re.compile(pref + "$")
            for code, sub in requested.items():
                if pattern.match(code) and sub.get("ext") in PARSERS and sub.get("url"):
                    return code, sub
        return None
