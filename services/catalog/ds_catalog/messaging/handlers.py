"""The catalog consumer's handlers, by contract: the transcripts service's state of each video,
popularity from `video.started`, and user names from auth (ds_catalog.service.projections)."""

from __future__ import annotations

from ds_common.events.consumer import Handlers
from ds_common.events.contracts import (
    TranscriptFailed,
    TranscriptReady,
    TranscriptRefined,
    UserRegistered,
    UserUpdated,
    VideoStarted,
)
from ds_common.events.envelope import Envelope
from ds_common.redis import KeySpace
from ds_common.runtime import Stores

from ds_catalog import SERVICE
from ds_catalog.adapters.cache import ReadCache
from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.adapters.submissions_repo import SubmissionsRepo
from ds_catalog.service.projections import Projections, refinement


def handlers(stores: Stores) -> Handlers:
    return handlers_on(Projections(CatalogRepo(stores.db), SubmissionsRepo(stores.db),
                                   ReadCache(stores.redis, KeySpace(SERVICE))))


def handlers_on(projections: Projections) -> Handlers:
    async def on_ready(data: TranscriptReady, event: Envelope) -> None:
        await projections.transcript_state(
            data.channel_id, data.video_id, event.sequence, event.occurred_at,
            status={"transcript_status": "ready", "transcript_count": data.line_count,
                    "transcript_source": data.source},
            refinement=refinement(data.is_refined, data.refined_at))

    async def on_failed(data: TranscriptFailed, event: Envelope) -> None:
        await projections.transcript_state(
            data.channel_id, data.video_id, event.sequence, event.occurred_at,
            status={"transcript_status": "failed", "transcript_error": data.reason[:500]})

    async def on_refined(data: TranscriptRefined, event: Envelope) -> None:
        await projections.transcript_state(data.channel_id, data.video_id, event.sequence, event.occurred_at,
                                           refinement=refinement(data.is_refined, data.refined_at))

    async def on_started(data: VideoStarted, event: Envelope) -> None:
        await projections.video_started(event.id, data.channel_id, data.video_id, event.occurred_at)

    async def on_user(data: UserRegistered | UserUpdated, event: Envelope) -> None:
        await projections.user_named(data.user_id, event.sequence, data.email, data.username)

    return {TranscriptReady: on_ready, TranscriptFailed: on_failed, TranscriptRefined: on_refined,
            VideoStarted: on_started, UserRegistered: on_user, UserUpdated: on_user}
