"""Event handlers. Each is one quick, idempotent write; slow work (YouTube) goes to the prefetch queue.

- `video.published`: an uploaded SRT is stored at once (→ `transcript.ready`); otherwise the video
  is recorded as `pending` and queued for a background fetch. Redelivery is a no-op (the applied
  event ids are kept in the document), and a publish older than a removal is ignored (the two
  travel on different topics, so they may arrive out of order).
- `video.updated`: the title and language follow the catalog.
- `video.removed`: the transcript is dropped, the document stays as a tombstone.
- `video.started` → the `access` projection (cycle end, kept at the latest); `plan.changed` → the
  `entitlements` projection (newest `sequence` wins).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ds_common.events.consumer import Handler, apply_once_by_sequence
from ds_common.events.contracts import (
    PlanChanged,
    TranscriptFailed,
    VideoPublished,
    VideoRemoved,
    VideoStarted,
    VideoUpdated,
)
from ds_common.events.envelope import Envelope
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_transcripts.access import access_id
from ds_transcripts.adapters.store import ACCESS, ENTITLEMENTS, Change
from ds_transcripts.domain.lines import Line, make_line
from ds_transcripts.domain.srt import parse_srt
from ds_transcripts.transcripts import Transcripts, ready_event

logger = logging.getLogger("ds.transcripts.consumer")
KEEP_EVENT_IDS = 20
HEAVY = ("transcript", "original_transcript", "source_transcript")

Enqueue = Callable[[str, str], None]


def _seen(doc: Document | None, event: Envelope) -> bool:
    if doc is None:
        return False
    removed_at = doc.get("removed_at")
    return event.id in doc.get("applied_events", []) or (removed_at is not None and event.occurred_at <= removed_at)


def _applied(doc: Document | None, event: Envelope) -> list[str]:
    return [*(doc or {}).get("applied_events", [])[-(KEEP_EVENT_IDS - 1):], event.id]


def uploaded_lines(data: VideoPublished) -> list[Line]:
    if data.transcript:
        lines = [make_line(t.start, t.end, t.transcript) for t in data.transcript]
        return [line for line in lines if line["transcript"]]
    return parse_srt(data.srt_text or "")


class VideoHandlers:
    def __init__(self, transcripts: Transcripts, enqueue: Enqueue) -> None:
        self.transcripts = transcripts
        self.store = transcripts.store
        self.enqueue = enqueue

    async def published(self, event: Envelope) -> None:
        data = VideoPublished.model_validate(event.data)
        queued = False

        def decide(doc: Document | None) -> Change | None:
            nonlocal queued
            if _seen(doc, event):
                return None
            meta = {"title": data.title, "language": data.language, "link": data.link,
                    "published_at": event.occurred_at, "applied_events": _applied(doc, event), "is_refined": False}
            fresh = doc is None or doc.get("status") == "removed"
            if data.transcript_source == "uploaded_srt":
                lines = uploaded_lines(data)
                if not lines:
                    failed = TranscriptFailed(channel_id=data.channel_id, video_id=data.video_id,
                                              reason="empty_srt", retryable=False)
                    return Change(set={**meta, "status": "unavailable", "failure": {"reason": "empty_srt"}},
                                  unset=HEAVY, events=[failed], causation=event)
                written = {**meta, "channel_id": data.channel_id, "video_id": data.video_id, "transcript": lines}
                return Change(set={**meta, "status": "ready", "source": "uploaded_srt", "transcript": lines,
                                   "source_transcript": lines, "line_count": len(lines), "has_original": False},
                              unset=("original_transcript", "failure", "retry_at", "refined_at", "removed_at"),
                              events=[ready_event(written, "uploaded_srt")], causation=event)
            if not fresh and doc is not None and doc.get("status") == "ready":
                meta.pop("is_refined")
                return Change(set=meta)  # a republish of a video we already have: metadata only
            queued = True
            return Change(set={**meta, "status": "pending", "source": "youtube", "line_count": 0,
                               "has_original": False, "retry_at": self.transcripts.clock.now()},
                          unset=(*HEAVY, "failure", "refined_at", "removed_at"))

        doc = await self.store.mutate(data.channel_id, data.video_id, decide)
        await self.transcripts.after_write(doc)
        if queued:
            self.enqueue(data.channel_id, data.video_id)

    async def updated(self, event: Envelope) -> None:
        data = VideoUpdated.model_validate(event.data)

        def decide(doc: Document | None) -> Change | None:
            if doc is None or _seen(doc, event) or doc.get("status") == "removed":
                return None
            return Change(set={"title": data.title, "language": data.language, "link": data.link,
                               "applied_events": _applied(doc, event)})

        await self.transcripts.after_write(await self.store.mutate(data.channel_id, data.video_id, decide))

    async def removed(self, event: Envelope) -> None:
        data = VideoRemoved.model_validate(event.data)

        def decide(doc: Document | None) -> Change | None:
            if _seen(doc, event) or (doc is not None and doc.get("status") == "removed"):
                return None
            return Change(set={"status": "removed", "removed_at": event.occurred_at, "line_count": 0,
                               "applied_events": _applied(doc, event)},
                          unset=(*HEAVY, "failure", "retry_at"))

        await self.transcripts.after_write(await self.store.mutate(data.channel_id, data.video_id, decide))


def projection_handlers(db: AsyncDatabase[Document]) -> dict[str, Handler]:
    async def video_started(event: Envelope) -> None:
        data = VideoStarted.model_validate(event.data)
        # $max keeps the latest cycle whatever the delivery order; repeating it changes nothing.
        await db[ACCESS].update_one({"_id": access_id(data.user_id, data.channel_id, data.video_id)},
                                    {"$max": {"cycle_end": data.cycle_end}}, upsert=True)

    async def plan_changed(event: Envelope) -> None:
        data = PlanChanged.model_validate(event.data)
        await apply_once_by_sequence(db[ENTITLEMENTS], data.user_id, event.sequence,
                                     {"$set": {"entitlement": data.entitlement.model_dump()}})

    return {"video.started": video_started, "plan.changed": plan_changed}


def all_handlers(videos: VideoHandlers, db: AsyncDatabase[Document]) -> Mapping[str, Any]:
    return {"video.published": videos.published, "video.updated": videos.updated,
            "video.removed": videos.removed, **projection_handlers(db)}
