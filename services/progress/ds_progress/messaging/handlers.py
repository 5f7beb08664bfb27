"""What the progress consumer applies: the user directory, the plan mirror, the statistics.

Every effect is idempotent: full-state events by sequence, practice deltas by event id.
"""

from __future__ import annotations

from collections.abc import Mapping

from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import Handler, apply_once_by_sequence
from ds_common.events.contracts import PlanChanged, UserRegistered, UserUpdated
from ds_common.events.envelope import Envelope
from ds_common.runtime import Stores

from ds_progress.adapters.collections import ENTITLEMENTS, USERS
from ds_progress.adapters.stats import PracticeStats


def handlers(stores: Stores) -> Mapping[str, Handler]:
    users, entitlements = stores.db[USERS], stores.db[ENTITLEMENTS]
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

    async def practice_recorded(event: Envelope) -> None:
        await stats.record(event)

    return {"user.registered": user_registered, "user.updated": user_updated,
            "plan.changed": plan_changed, "practice.recorded": practice_recorded}
