"""The auth consumer: mirror billing's `plan.changed` into the user object, keep each learner's
latest practice (progress's `practice.recorded`, for the admin user table); purge old sessions.

(`session.revoked` is applied by ds_common's consumer_app in every service, auth included.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ds_common.clock import Clock, SystemClock
from ds_common.events.consumer import Batched, Delivery, Handlers
from ds_common.events.contracts import PlanChanged, PracticeRecorded
from ds_common.events.envelope import Envelope
from ds_common.runtime import Stores

from ds_auth.adapters.activity import ActivityStore
from ds_auth.adapters.sessions import purge_expired_sessions
from ds_auth.adapters.users import UserStore
from ds_auth.domain.users import latest_typed_practice

logger = logging.getLogger("ds.auth.consumer")
PURGE_INTERVAL_S = 3600


def handlers(stores: Stores, clock: Clock | None = None) -> Handlers:
    users = UserStore(stores.db, stores.redis, clock or SystemClock())
    activity = ActivityStore(stores.db)

    async def on_plan_changed(data: PlanChanged, event: Envelope) -> None:
        # Full-state event: the newest sequence wins, replays and stale events are no-ops.
        await users.apply_plan(data.user_id, event.sequence, data.entitlement.model_dump(mode="json"), data.source)

    async def on_practice(deliveries: list[Delivery]) -> None:
        await activity.keep_latest(latest_typed_practice(d.data for d in deliveries))

    # Practice arrives with every save: a batch every few seconds keeps one write per learner.
    return {PlanChanged: on_plan_changed, PracticeRecorded: Batched(on_practice, every_s=5.0)}


async def purge_sessions_forever(stores: Stores, stop: asyncio.Event, clock: Clock | None = None) -> None:
    clock = clock or SystemClock()
    while not stop.is_set():
        try:
            purged = await purge_expired_sessions(stores.db, clock.now())
            if purged:
                logger.info("purged %d expired sessions", purged)
        except Exception:
            logger.warning("session purge failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=PURGE_INTERVAL_S)
