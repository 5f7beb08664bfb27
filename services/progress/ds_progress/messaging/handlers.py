"""What the progress consumer applies: the user directory, the plan mirror, the statistics, and
each channel's video ids (for the per-channel badges, which list every video of a channel).

Every effect is idempotent: full-state events by sequence, practice deltas by event id. Practice
events are applied in batches, one a second per partition: a learner-day's events of a batch make
one write, and the statistics trail the saves by a second or two.
"""

from __future__ import annotations

from collections.abc import Mapping

from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import AnyHandler, Batched, apply_once_by_sequence
from ds_common.events.contracts import PlanChanged, UserRegistered, UserUpdated, VideoPublished, VideoRemoved
from ds_common.events.envelope import Envelope
from ds_common.runtime import Stores

from ds_progress.adapters import copies
from ds_progress.adapters.collections import ENTITLEMENTS, USERS
from ds_progress.adapters.records import ChannelVideos
from ds_progress.adapters.stats import PracticeStats


def handlers(stores: Stores) -> Mapping[str, AnyHandler]:
    users, entitlements = stores.db[USERS], stores.db[ENTITLEMENTS]
    learners = copies.learners(stores)
    channel_videos = ChannelVideos(stores.db, copies.channel_videos(stores))
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

    async def video_published(event: Envelope) -> None:
        data = VideoPublished.model_validate(event.data)
        await channel_videos.record(data.channel_id, data.video_id, event.sequence, removed=False)

    async def video_removed(event: Envelope) -> None:
        data = VideoRemoved.model_validate(event.data)
        await channel_videos.record(data.channel_id, data.video_id, event.sequence, removed=True)

    return {"user.registered": user_registered, "user.updated": user_updated,
            "plan.changed": plan_changed, "practice.recorded": Batched(stats.record_many, every_s=1.0),
            "video.published": video_published, "video.removed": video_removed}
