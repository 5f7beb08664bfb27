"""Event handlers, by contract. Each is one quick, idempotent write; slow work (YouTube) goes to
the prefetch queue (messaging/prefetch.py).

- `video.published` / `video.updated` / `video.removed`: the transcripts follow the catalog
  (service/videos.py; the rules in domain/transcript.py).
- `video.started` → the `access` projection; `plan.changed` → the `entitlements` projection;
  `channel.updated` → the `channels` projection (adapters/projections.py), which access control
  reads (service/access_control.py).
"""

from __future__ import annotations

from ds_common.events.consumer import Handlers
from ds_common.events.contracts import (
    ChannelUpdated,
    PlanChanged,
    VideoPublished,
    VideoRemoved,
    VideoStarted,
    VideoUpdated,
)
from ds_common.events.envelope import Envelope
from ds_common.runtime import Stores

from ds_transcripts.adapters.projections import AccessProjections
from ds_transcripts.service.videos import VideoEvents


def handlers(stores: Stores, videos: VideoEvents) -> Handlers:
    """`videos` is shared with the prefetch worker (its queue), so the caller builds it."""
    projections = AccessProjections(stores.db)

    async def on_video_started(data: VideoStarted, _: Envelope) -> None:
        await projections.video_started(data)

    async def on_plan_changed(data: PlanChanged, event: Envelope) -> None:
        await projections.plan_changed(data, event.sequence)

    async def on_channel_updated(data: ChannelUpdated, event: Envelope) -> None:
        await projections.channel_updated(data, event.sequence)

    return {VideoPublished: videos.published, VideoUpdated: videos.updated, VideoRemoved: videos.removed,
            ChannelUpdated: on_channel_updated, VideoStarted: on_video_started, PlanChanged: on_plan_changed}
