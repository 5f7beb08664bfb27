"""What the catalog's consumer keeps from other services' events. Each is quick and idempotent:

- the transcripts service's state of a video (availability, line count, refined flag): per aspect
  (status, refinement) the newest (sequence, time) wins, since its three topics are not ordered
  with each other, and an event for a video the catalog does not have changes nothing;
- popularity: a learner's start of a video, counted once per event;
- user names shown on error reports (newest sequence wins).
After a change of a video the channel's cached lists are invalidated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ds_catalog.adapters.cache import ReadCache, videos_scope
from ds_catalog.adapters.catalog_repo import CatalogRepo, TranscriptAspect
from ds_catalog.adapters.submissions_repo import SubmissionsRepo


class Projections:
    def __init__(self, catalog: CatalogRepo, submissions: SubmissionsRepo, cache: ReadCache) -> None:
        self.catalog = catalog
        self.submissions = submissions
        self.cache = cache

    async def transcript_state(self, channel_id: str, video_id: str, sequence: int, at: datetime, *,
                               status: dict[str, Any] | None = None,
                               refinement: dict[str, Any] | None = None) -> None:
        aspects: dict[TranscriptAspect, dict[str, Any] | None] = {"status": status, "refinement": refinement}
        changed = {aspect: await self.catalog.apply_transcript_state(channel_id, video_id, sequence, at, fields,
                                                                     aspect=aspect)
                   for aspect, fields in aspects.items() if fields is not None}
        if changed.get("refinement") and refinement is not None:
            await self.catalog.mark_in_channel(channel_id, video_id, "refined", bool(refinement["is_refined"]))
        if any(changed.values()):
            await self.cache.invalidate(videos_scope(channel_id))

    async def video_started(self, event_id: str, channel_id: str, video_id: str, at: datetime) -> None:
        await self.submissions.record_start(event_id, channel_id, video_id, at)

    async def user_named(self, user_id: str, sequence: int, email: str, username: str) -> None:
        await self.submissions.remember_user(user_id, sequence, email, username)


def refinement(is_refined: bool, refined_at: datetime | None) -> dict[str, Any]:
    return {"is_refined": is_refined, "refined_at": refined_at if is_refined else None}
