"""The admin's upload of videos with SRT transcripts: which file is whose transcript, and why an
item is refused. Every SRT file is read before anything is written, so a bad file refuses the
whole upload; the other checks refuse one item and the rest are stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ds_common.events.contracts import TranscriptLine, VideoPublished
from ds_common.ids import is_youtube_id

from ds_catalog.domain import srt
from ds_catalog.domain.errors import InvalidTranscriptFile

SOURCE = "uploaded_srt"


@dataclass(frozen=True)
class UploadRequest:
    """One video of an upload, as the admin describes it."""

    channel_id: str
    video_link: str
    title: str | None
    visibility: str


@dataclass(frozen=True)
class Transcript:
    cues: list[srt.Cue]
    text: str


@dataclass(frozen=True)
class UploadResult:
    video_id: str | None
    success: bool
    message: str
    duplicate: bool = False
    transcript_count: int | None = None


def srt_video_id(filename: str) -> str | None:
    """The video a file is the transcript of: `{videoId}.srt`; other files are ignored (legacy)."""
    stem = filename[:-4] if filename.lower().endswith(".srt") else ""
    return stem if is_youtube_id(stem) else None


def read_transcript(filename: str, raw: bytes) -> Transcript:
    try:
        text = srt.decode(raw)
        return Transcript(srt.parse(text), text)
    except srt.SrtError as exc:
        raise InvalidTranscriptFile(f"Invalid SRT file {filename}: {exc}") from None


def duplicate(video_id: str) -> UploadResult:
    return UploadResult(video_id, False, "Video already exists", duplicate=True)


def uploaded(video_id: str, transcript: Transcript) -> UploadResult:
    return UploadResult(video_id, True, "Video uploaded successfully", transcript_count=len(transcript.cues))


def refusal(item: UploadRequest, video_id: str | None, *, channel_known: bool, exists: bool,
            transcript: Transcript | None) -> UploadResult | None:
    """Why `item` cannot be stored, in the legacy order of checks; None when it can."""
    if not channel_known:
        return UploadResult(video_id, False, f"Channel {item.channel_id} not found")
    if video_id is None:
        return UploadResult(None, False, "Invalid YouTube link: no video id found")
    if exists:
        return duplicate(video_id)
    if transcript is None:
        return UploadResult(video_id, False, f"No SRT transcript file provided for video {video_id}")
    if not item.title:
        return UploadResult(video_id, False, "Title is required")
    return None


def published(item: UploadRequest, video_id: str, language: str, transcript: Transcript,
              now: datetime) -> tuple[dict[str, Any], VideoPublished]:
    """A new video's stored fields and its `video.published` event, which carries the parsed
    lines (the transcripts service stores them from the event; the SRT text itself would double the
    event's size for nothing)."""
    lines = [TranscriptLine(start=c.start, end=c.end, transcript=c.transcript) for c in transcript.cues]
    event = VideoPublished(channel_id=item.channel_id, video_id=video_id, title=item.title or "",
                           link=item.video_link, language=language, visibility=item.visibility,
                           transcript_source=SOURCE, transcript=lines)
    state = {"channel_id": item.channel_id, "video_id": video_id, "title": item.title, "link": item.video_link,
             "visibility": item.visibility, "language": language, "transcript_source": SOURCE,
             "transcript_status": "pending", "transcript_count": len(lines), "is_refined": False,
             "refined_at": None, "created_at": now, "updated_at": None}
    return state, event

