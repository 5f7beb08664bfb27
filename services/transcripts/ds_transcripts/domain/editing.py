"""Admin edits of a transcript. The original stays recoverable after any edit.

Restoring, as in the legacy backend but durable, goes back to `original_transcript`, the snapshot
taken before the first edit (restoring from it deletes it), which is what was uploaded or fetched
(the legacy `$UPLOADS_DIR/<video>.srt` file): without a snapshot the transcript is still that. (A
`source_transcript` copy, written by earlier versions, is read if present.)
Every edit publishes `transcript.ready` (with `source="edited"`) so catalog keeps its line count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ds_common.events.contracts import TranscriptRefined
from ds_common.mongo import Document
from ds_common.versioned import Change

from ds_transcripts.domain.filters import FilterResult, apply_filters
from ds_transcripts.domain.lines import Line
from ds_transcripts.domain.transcript import InvalidTranscriptIndex, VideoNotFound, ready_event


def live(doc: Document | None, channel_id: str, video_id: str) -> Document:
    """The video's document if it can be edited (known and not removed)."""
    if doc is None or doc.get("status") in ("removed", None):
        raise VideoNotFound(f"Video {video_id} not found in channel {channel_id}")
    return doc


def edited(doc: Document, lines: list[Line], now: datetime) -> Change:
    """The transcript becomes `lines`; the first edit snapshots the transcript it replaces, once."""
    fields: dict[str, Any] = {"transcript": lines, "line_count": len(lines), "edited_at": now, "status": "ready"}
    if "original_transcript" not in doc and doc.get("transcript"):
        fields["original_transcript"] = doc["transcript"]
    written = {**doc, **fields}
    return Change(set={**fields, "has_original": "original_transcript" in written},
                  unset=("failure", "retry_at"), events=[ready_event(written, "edited")])


def line_replaced(doc: Document, index: int, line: Line, now: datetime) -> Change:
    lines = list(doc.get("transcript") or [])
    if not 0 <= index < len(lines):
        raise InvalidTranscriptIndex("Invalid transcript index")
    lines[index] = line
    return edited(doc, lines, now)


def restored(doc: Document, now: datetime) -> Change:
    """Back to the snapshot (which goes); without one the transcript is what was uploaded or fetched."""
    lines = doc.get("original_transcript") or doc.get("source_transcript") or doc.get("transcript")
    if not lines:
        raise VideoNotFound(f"No original transcript available for video {doc['video_id']}")
    written = {**doc, "transcript": lines}
    return Change(set={"transcript": lines, "line_count": len(lines), "edited_at": now, "status": "ready",
                       "has_original": False},
                  unset=("original_transcript",), events=[ready_event(written, doc.get("source", "edited"))])


def filtered(doc: Document, filters: Sequence[str], now: datetime) -> tuple[Change | None, FilterResult]:
    """The filters applied to the transcript; no change (no write, no event) when nothing matched."""
    if not doc.get("transcript"):
        raise VideoNotFound(f"No transcript to filter for video {doc['video_id']}")
    result = apply_filters(doc["transcript"], filters)
    return (edited(doc, result.lines, now) if result.total_changes else None), result


def refined(doc: Document, is_refined: bool, now: datetime) -> Change:
    """An editor marks (or unmarks) the transcript as refined; catalog hears of it."""
    refined_at = now if is_refined else None
    event = TranscriptRefined(channel_id=doc["channel_id"], video_id=doc["video_id"], is_refined=is_refined,
                              refined_at=refined_at)
    if is_refined:
        return Change(set={"is_refined": True, "refined_at": refined_at}, events=[event])
    return Change(set={"is_refined": False}, unset=("refined_at",), events=[event])
