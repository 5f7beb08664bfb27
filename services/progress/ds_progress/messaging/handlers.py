"""What the progress consumer applies: the user directory, the plan mirror, the statistics, and
the catalog projection (names, visibility and each channel's videos).

Every effect is idempotent: full-state events by sequence, practice deltas by event id. Practice
events are applied in batches, one a second per partition: a learner-day's events of a batch make
one write, and the statistics trail the saves by a second or two.
"""

from __future__ import annotations

from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import Batched, Handlers, apply_once_by_sequence
from ds_common.events.contracts import (
    ChannelUpdated,
    PlanChanged,
    PracticeRecorded,
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


def handlers(stores: Stores) -> Handlers:
    users, entitlements = stores.db[USERS], stores.db[ENTITLEMENTS]
    learners = copies.learners(stores)
    catalog = CatalogView(stores.db, copies.catalog(stores))

    async def user_registered(data: UserRegistered, event: Envelope) -> None:
        # created_at never changes, so this write is idempotent whatever the order of events.
        await users.update_one({"_id": data.user_id}, {"$set": {
            "created_at": data.created_at, "created_day": to_ms(utc_midnight(data.created_at))}}, upsert=True)
        await apply_once_by_sequence(users, data.user_id, event.sequence,
                                     {"$set": {"email": data.email.strip().lower(), "role": data.role}})

    async def user_updated(data: UserUpdated, event: Envelope) -> None:
        await apply_once_by_sequence(users, data.user_id, event.sequence,
                                     {"$set": {"email": data.email.strip().lower(), "role": data.role}})

    async def plan_changed(data: PlanChanged, event: Envelope) -> None:
        await apply_once_by_sequence(entitlements, data.user_id, event.sequence,
                                     {"$set": data.entitlement.model_dump()})
        await learners.forget(data.user_id)  # quota checks read the plan from this copy

    async def channel_updated(data: ChannelUpdated, event: Envelope) -> None:
        await catalog.record_channel(data.channel_id, event.sequence, name=data.name, visibility=data.visibility)

    async def video_described(data: VideoMetadata, event: Envelope) -> None:
        await catalog.record_video(data.channel_id, data.video_id, event.sequence, removed=False,
                                   described={"title": data.title, "link": data.link, "visibility": data.visibility})

    async def video_removed(data: VideoRemoved, event: Envelope) -> None:
        await catalog.record_video(data.channel_id, data.video_id, event.sequence, removed=True)

    return {UserRegistered: user_registered, UserUpdated: user_updated, PlanChanged: plan_changed,
            PracticeRecorded: Batched(PracticeStats(stores.db).record_many, every_s=1.0),
            ChannelUpdated: channel_updated, VideoPublished: video_described, VideoUpdated: video_described,
            VideoRemoved: video_removed}
