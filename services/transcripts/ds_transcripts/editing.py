"""Admin edits. The original stays recoverable after any edit.

Two restore sources, as in the legacy backend but durable: `original_transcript`, the snapshot
taken before the first edit (restoring from it deletes it), and `source_transcript`, what was
uploaded or fetched (it replaces the legacy `$UPLOADS_DIR/<video>.srt` file and is never edited).
Every edit publishes `transcript.ready` (with `source="edited"`) so catalog keeps its line count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ds_common.clock import Clock, SystemClock
from ds_common.errors import BadRequest, NotFound
from ds_common.events.contracts import TranscriptRefined
from ds_common.mongo import Document

from ds_transcripts.adapters.store import Change
from ds_transcripts.domain.filters import FilterResult, apply_filters
from ds_transcripts.domain.lines import Line
from ds_transcripts.transcripts import Transcripts, ready_event


class VideoMissing(NotFound):
    pass


@dataclass
class FilterOutcome:
    doc: Document
    result: FilterResult


def _live(doc: Document | None, channel_id: str, video_id: str) -> Document:
    if doc is None or doc.get("status") in ("removed", None):
        raise VideoMissing(f"Video {video_id} not found in channel {channel_id}")
    return doc


def _edit(doc: Document, lines: list[Line], now: Any, source: str = "edited") -> Change:
    fields: dict[str, Any] = {"transcript": lines, "line_count": len(lines), "edited_at": now, "status": "ready"}
    if "original_transcript" not in doc and doc.get("transcript"):
        fields["original_transcript"] = doc["transcript"]  # snapshot once, before the first edit
    written = {**doc, **fields}
    return Change(set={**fields, "has_original": "original_transcript" in written},
                  unset=("failure", "retry_at"), events=[ready_event(written, source)])


class Editor:
    def __init__(self, transcripts: Transcripts, clock: Clock | None = None) -> None:
        self.transcripts = transcripts
        self.store = transcripts.store
        self.clock = clock or SystemClock()

    async def _write(self, channel_id: str, video_id: str, decide: Any) -> Document:
        doc = await self.store.mutate(channel_id, video_id, decide)
        await self.transcripts.after_write(doc)
        return _live(doc, channel_id, video_id)

    async def update_line(self, channel_id: str, video_id: str, index: int, line: Line) -> Document:
        def decide(doc: Document | None) -> Change:
            current = list(_live(doc, channel_id, video_id).get("transcript") or [])
            if not 0 <= index < len(current):
                raise BadRequest("Invalid transcript index")
            current[index] = line
            return _edit(doc, current, self.clock.now())  # type: ignore[arg-type]

        return await self._write(channel_id, video_id, decide)

    async def replace(self, channel_id: str, video_id: str, lines: list[Line]) -> Document:
        def decide(doc: Document | None) -> Change:
            return _edit(_live(doc, channel_id, video_id), lines, self.clock.now())

        return await self._write(channel_id, video_id, decide)

    async def restore(self, channel_id: str, video_id: str) -> Document:
        def decide(doc: Document | None) -> Change:
            live = _live(doc, channel_id, video_id)
            lines = live.get("original_transcript") or live.get("source_transcript")
            if not lines:
                raise VideoMissing(f"No original transcript available for video {video_id}")
            written = {**live, "transcript": lines}
            return Change(set={"transcript": lines, "line_count": len(lines), "edited_at": self.clock.now(),
                               "status": "ready", "has_original": False},
                          unset=("original_transcript",), events=[ready_event(written, live.get("source", "edited"))])

        return await self._write(channel_id, video_id, decide)

    async def apply_filters(self, channel_id: str, video_id: str, filters: Sequence[str]) -> FilterOutcome:
        outcome: dict[str, FilterResult] = {}

        def decide(doc: Document | None) -> Change | None:
            live = _live(doc, channel_id, video_id)
            if not live.get("transcript"):
                raise VideoMissing(f"No transcript to filter for video {video_id}")
            outcome["result"] = result = apply_filters(live["transcript"], filters)
            if result.total_changes == 0:
                return None  # nothing matched: no write, no event
            return _edit(live, result.lines, self.clock.now())

        doc = await self._write(channel_id, video_id, decide)
        return FilterOutcome(doc, outcome["result"])

    async def mark_refined(self, channel_id: str, video_id: str, is_refined: bool) -> Document:
        def decide(doc: Document | None) -> Change:
            _live(doc, channel_id, video_id)
            refined_at = self.clock.now() if is_refined else None
            event = TranscriptRefined(channel_id=channel_id, video_id=video_id, is_refined=is_refined,
                                      refined_at=refined_at)
            if is_refined:
                return Change(set={"is_refined": True, "refined_at": refined_at}, events=[event])
            return Change(set={"is_refined": False}, unset=("refined_at",), events=[event])

        return await self._write(channel_id, video_id, decide)
