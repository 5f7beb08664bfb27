"""A video's transcript: one versioned document per video, and every change it goes through.

States: `pending` (a known video whose transcript is not fetched yet, or is to be retried after
`retry_at`), `ready`, `unavailable` (upstream has none: 404 with its reason), `removed` (a
tombstone: the catalog deleted the video). Each change is a pure decision on the current document
(`decide(current) -> Change | None`, ds_common.versioned); None means there is nothing to do.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ds_common.errors import DomainError
from ds_common.events.contracts import TranscriptFailed, TranscriptReady, VideoPublished, VideoUpdated
from ds_common.events.envelope import Envelope
from ds_common.mongo import Document
from ds_common.versioned import Change

from ds_transcripts.domain.fetching import Fetched, FetchFailed
from ds_transcripts.domain.lines import Line, make_line
from ds_transcripts.domain.srt import parse_srt

HEAVY = ("transcript", "original_transcript", "source_transcript")  # what a tombstone drops
KEEP_EVENT_IDS = 20  # catalog event ids kept in the document, against redelivery


class VideoNotFound(DomainError):
    """No such video (never published, removed, or not in that channel): 404."""


class TranscriptUnavailable(DomainError):
    """The video exists but upstream has no transcript for it: 404 with the `reason`."""


class InvalidTranscriptIndex(DomainError):
    """An edit named a line the transcript does not have: 400."""


def ready_event(doc: Document, source: str) -> TranscriptReady:
    return TranscriptReady(channel_id=doc["channel_id"], video_id=doc["video_id"],
                           line_count=len(doc.get("transcript") or []), source=source,
                           is_refined=bool(doc.get("is_refined")), refined_at=doc.get("refined_at"))


def require_ready(doc: Document | None, video_id: str) -> Document:
    """The document if it can be served; a removed or unknown video, or one without a transcript,
    is refused."""
    if doc is None or doc.get("status") == "removed":
        raise VideoNotFound("Video not found")
    if doc.get("status") == "unavailable":
        failure = doc.get("failure") or {}
        raise TranscriptUnavailable(f"No transcript available for video {video_id}",
                                    reason=failure.get("reason", "unavailable"))
    return doc


# --- fetching ---------------------------------------------------------------------------------
def backoff_s(attempts: int, base_s: int, max_s: int) -> int:
    """How long a video waits after its `attempts`-th retryable failure (doubling, capped)."""
    return int(min(base_s * 2 ** max(attempts - 1, 0), max_s))


def fetched(doc: Document | None, result: Fetched) -> Change | None:
    """Upstream answered: the lines become the transcript, unless the video was removed meanwhile
    or an upload arrived first (keep that)."""
    if doc is None or doc.get("status") != "pending":
        return None
    written = {**doc, "transcript": result.lines}
    return Change(set={"status": "ready", "source": result.source, "transcript": result.lines,
                       "line_count": len(result.lines), "fetched_language": result.language},
                  unset=("failure", "retry_at", "source_transcript"), events=[ready_event(written, result.source)])


def failed(doc: Document | None, failure: FetchFailed, now: datetime, *, base_s: int, max_s: int) -> Change | None:
    """Upstream failed: no transcript at all makes the video `unavailable`; a retryable failure
    keeps it pending until `retry_at` (backing off). The catalog hears of a failure when it is new
    or final, not of every retry."""
    if doc is None or doc.get("status") != "pending":
        return None
    previous = doc.get("failure") or {}
    attempts = int(previous.get("attempts", 0)) + 1
    info = {"reason": failure.reason, "detail": failure.detail[:300], "attempts": attempts}
    event = TranscriptFailed(channel_id=doc["channel_id"], video_id=doc["video_id"], reason=failure.reason,
                             retryable=failure.retryable)
    if not failure.retryable:
        return Change(set={"status": "unavailable", "failure": info}, unset=("retry_at",), events=[event])
    retry_at = now + timedelta(seconds=backoff_s(attempts, base_s, max_s))
    news = previous.get("reason") != failure.reason
    return Change(set={"failure": info, "retry_at": retry_at}, events=[event] if news else [])


# --- speech-to-text ----------------------------------------------------------------------------
def transcribed(doc: Document | None, lines: list[Line], model: str, job_id: str) -> Change | None:
    """Lines made from the video's audio replace its transcript (an admin asked for them), unless
    the video was removed meanwhile or this job wrote them already. The source, model and job are
    kept so admins can tell them from captions; they are edited like any other transcript."""
    if doc is None or doc.get("status") == "removed" or doc.get("stt_job") == job_id:
        return None
    written = {**doc, "transcript": lines, "is_refined": False}
    return Change(set={"status": "ready", "source": "speech_to_text", "stt_model": model, "stt_job": job_id,
                       "transcript": lines,
                       "line_count": len(lines), "has_original": False, "is_refined": False},
                  unset=("original_transcript", "source_transcript", "failure", "retry_at", "refined_at",
                         "edited_at"),
                  events=[ready_event(written, "speech_to_text")])


def transcription_failed(doc: Document | None, reason: str) -> Change | None:
    """A video still without a transcript hears why speech-to-text could not make one; a video
    that has one keeps it (the job's own status says what failed)."""
    if doc is None or doc.get("status") not in ("pending", "unavailable"):
        return None
    return Change(set={"stt_failure": reason}, events=[TranscriptFailed(
        channel_id=doc["channel_id"], video_id=doc["video_id"], reason=f"speech_to_text: {reason}", retryable=False)])


# --- the catalog's video events ---------------------------------------------------------------
def seen(doc: Document | None, event: Envelope) -> bool:
    """Whether the event was applied already, or is older than the video's removal (publish and
    remove travel on different topics, so they may arrive out of order)."""
    if doc is None:
        return False
    removed_at = doc.get("removed_at")
    return event.id in doc.get("applied_events", []) or (removed_at is not None and event.occurred_at <= removed_at)


def applied(doc: Document | None, event: Envelope) -> list[str]:
    return [*(doc or {}).get("applied_events", [])[-(KEEP_EVENT_IDS - 1):], event.id]


def uploaded_lines(data: VideoPublished) -> list[Line]:
    if data.transcript:
        lines = [make_line(t.start, t.end, t.transcript) for t in data.transcript]
        return [line for line in lines if line["transcript"]]
    return parse_srt(data.srt_text or "")


def published(doc: Document | None, data: VideoPublished, event: Envelope, now: datetime) -> Change | None:
    """A video was published: an uploaded SRT is stored at once (an empty one makes the video
    `unavailable`); a YouTube video becomes `pending` (fetch due now), unless we already have its
    transcript, in which case only its metadata follows."""
    if seen(doc, event):
        return None
    meta = {"title": data.title, "language": data.language, "link": data.link, "visibility": data.visibility,
            "published_at": event.occurred_at, "applied_events": applied(doc, event), "is_refined": False}
    if data.transcript_source == "uploaded_srt":
        lines = uploaded_lines(data)
        if not lines:
            failure = TranscriptFailed(channel_id=data.channel_id, video_id=data.video_id, reason="empty_srt",
                                       retryable=False)
            return Change(set={**meta, "status": "unavailable", "failure": {"reason": "empty_srt"}},
                          unset=HEAVY, events=[failure], causation=event)
        written = {**meta, "channel_id": data.channel_id, "video_id": data.video_id, "transcript": lines}
        return Change(set={**meta, "status": "ready", "source": "uploaded_srt", "transcript": lines,
                           "line_count": len(lines), "has_original": False},
                      unset=("original_transcript", "source_transcript", "failure", "retry_at", "refined_at",
                             "removed_at"),
                      events=[ready_event(written, "uploaded_srt")], causation=event)
    if doc is not None and doc.get("status") == "ready":
        meta.pop("is_refined")
        return Change(set=meta)  # a republish of a video we already have: metadata only
    return Change(set={**meta, "status": "pending", "source": "youtube", "line_count": 0, "has_original": False,
                       "retry_at": now},
                  unset=(*HEAVY, "failure", "refined_at", "removed_at"))


def updated(doc: Document | None, data: VideoUpdated, event: Envelope) -> Change | None:
    """The title, language, link and visibility follow the catalog (not for unknown or removed videos)."""
    if doc is None or seen(doc, event) or doc.get("status") == "removed":
        return None
    return Change(set={"title": data.title, "language": data.language, "link": data.link,
                       "visibility": data.visibility, "applied_events": applied(doc, event)})


def removed(doc: Document | None, event: Envelope) -> Change | None:
    """The transcript is dropped; the document stays as a tombstone dated by the removal."""
    if seen(doc, event) or (doc is not None and doc.get("status") == "removed"):
        return None
    return Change(set={"status": "removed", "removed_at": event.occurred_at, "line_count": 0,
                       "applied_events": applied(doc, event)},
                  unset=(*HEAVY, "failure", "retry_at"))
