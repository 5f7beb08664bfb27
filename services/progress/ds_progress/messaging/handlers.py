"""What the progress consumer applies: the user directory, the plan mirror, the statistics, and
the catalog projection (names, visibility and each channel's videos).

Every effect is idempotent: full-state events by sequence, practice deltas by event id. Practice
events are applied in batches, one a second per partition: a learner-day's events of a batch make
one write, and the statistics trail the saves by a second or two.
"""

from __future__ import annotations

from collections.abc import Mapping

from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import AnyHandler, Batched, apply_once_by_sequence
from ds_common.events.contracts import (
    ChannelUpdated,
    PlanChanged,
    UserRegistered,
    UserUpdated,
    VideoMetadata,
    VideoPublished,
    VideoRemoved,
    VideoUpdated,
)
from ds_common.events.envelope import Envelope
from ds_common.runtime import Stores

from ds_progress.adapters import copies
from ds_progress.adapters.catalog import CatalogView
from ds_progress.adapters.collections import ENTITLEMENTS, USERS
from ds_progress.adapters.stats import PracticeStats


def handlers(stores: Stores) -> Mapping[str, AnyHandler]:
    users, entitlements = stores.db[USERS], stores.db[ENTITLEMENTS]
    learners = copies.learners(stores)
    catalog = CatalogView(stores.db, copies.catalog(stores))
    stats = PracticeStats(stores.db)

    async def user_registered(event: Envelope) -> None:
        data = UserRegistered.model_validate(event.data)
        # created_at never changes, so this write is idempotent whatever the order of events.
        await users.update_one({"_id": data.user_id}, {"$set": {
            "created_at": data.created_at, "created_day": to_ms(utc_midnight(data.created_at))}}, upsert=True)
        await apply_once_by_sequence(users, data.user_id, event.sequence,
                                     {"$set": {"email": data.email.strip().lower(), "role": data.role}})

    async def user_updated(event: Envelope) -> None:
        data = UserUpdated.model_validate(event.data)
        await apply_once_by_sequence(users, data.user_id, event.sequence,
                                     {"$set": {"email": data.email.strip().lower(), "role": data.role}})

    async def plan_changed(event: Envelope) -> None:
        data = PlanChanged.model_validate(event.data)
        await apply_once_by_sequence(entitlements, data.user_id, event.sequence,
                                     {"$set": data.entitlement.model_dump()})
        await learners.forget(data.user_id)  # quota checks read the plan from this copy

    async def channel_updated(event: Envelope) -> None:
        data = ChannelUpdated.model_validate(event.data)
        await catalog.record_channel(data.channel_id, event.sequence, name=data.name, visibility=data.visibility)

    async def video_described(event: Envelope) -> None:
        model = VideoPublished if event.type == VideoPublished.event_type else VideoUpdated
        data: VideoMetadata = model.model_validate(event.data)
        await catalog.record_video(data.channel_id, data.video_id, event.sequence, removed=False,
                                   described={"title": data.title, "link": data.link, "visibility": data.visibility})

    async def video_removed(event: Envelope) -> None:
        data = VideoRemoved.model_validate(event.data)
        await catalog.record_video(data.channel_id, data.video_id, event.sequence, removed=True)

    return {"user.registered": user_registered, "user.updated": user_updated,
            "plan.changed": plan_changed, "practice.recorded": Batched(stats.record_many, every_s=1.0),
            "channel.updated": channel_updated, "video.published": video_described,
            "video.updated": video_described, "video.removed": video_removed}
