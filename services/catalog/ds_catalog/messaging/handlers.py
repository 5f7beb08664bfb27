"""Event handlers of the catalog consumer. Each is quick and idempotent:

- `transcript.ready` / `transcript.failed` / `transcript.refined` → the video's transcript state
  (availability, line count, refined flag) in the read model; per aspect (status, refinement) the
  newest (sequence, time) wins, since the three topics are not ordered with each other, and an
  event for a video the catalog does not have changes nothing.
- `video.started` → popularity counts, once per event id.
- `user.registered` / `user.updated` → user names shown on error reports (newest sequence wins).
After a change the channel's cached lists are invalidated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ds_common.events.consumer import Handler
from ds_common.events.contracts import (
    TranscriptFailed,
    TranscriptReady,
    TranscriptRefined,
    UserRegistered,
    UserUpdated,
    VideoStarted,
)
from ds_common.events.envelope import Envelope

from ds_catalog.adapters.cache import ReadCache, videos_scope
from ds_catalog.adapters.catalog_repo import CatalogRepo, TranscriptAspect
from ds_catalog.adapters.submissions_repo import SubmissionsRepo


def catalog_handlers(catalog: CatalogRepo, submissions: SubmissionsRepo, cache: ReadCache) -> Mapping[str, Handler]:
    async def transcript_state(event: Envelope, channel_id: str, video_id: str, *,
                               status: dict[str, Any] | None = None,
                               refinement: dict[str, Any] | None = None) -> None:
        aspects: dict[TranscriptAspect, dict[str, Any] | None] = {"status": status, "refinement": refinement}
        changed = [await catalog.apply_transcript_state(channel_id, video_id, event.sequence, event.occurred_at,
                                                        fields, aspect=aspect)
                   for aspect, fields in aspects.items() if fields is not None]
        if any(changed):
            await cache.invalidate(videos_scope(channel_id))

    def refined(is_refined: bool, refined_at: Any) -> dict[str, Any]:
        return {"is_refined": is_refined, "refined_at": refined_at if is_refined else None}

    async def on_ready(event: Envelope) -> None:
        data = TranscriptReady.model_validate(event.data)
        await transcript_state(event, data.channel_id, data.video_id, status={
            "transcript_status": "ready", "transcript_count": data.line_count, "transcript_source": data.source},
            refinement=refined(data.is_refined, data.refined_at))

    async def on_failed(event: Envelope) -> None:
        data = TranscriptFailed.model_validate(event.data)
        await transcript_state(event, data.channel_id, data.video_id,
                               status={"transcript_status": "failed", "transcript_error": data.reason[:500]})

    async def on_refined(event: Envelope) -> None:
        data = TranscriptRefined.model_validate(event.data)
        await transcript_state(event, data.channel_id, data.video_id,
                               refinement=refined(data.is_refined, data.refined_at))

    async def on_started(event: Envelope) -> None:
        data = VideoStarted.model_validate(event.data)
        await submissions.record_start(event.id, data.channel_id, data.video_id, event.occurred_at)

    async def on_user(event: Envelope) -> None:
        model = UserRegistered if event.type == "user.registered" else UserUpdated
        data = model.model_validate(event.data)
        await submissions.remember_user(data.user_id, event.sequence, data.email, data.username)

    return {"transcript.ready": on_ready, "transcript.failed": on_failed, "transcript.refined": on_refined,
            "video.started": on_started, "user.registered": on_user, "user.updated": on_user}
