"""Billing's consumer: auth's user events (projection) and its own Stripe wake-up events.

Also the ledger sweeper, a loop beside the poll loop that copies ledger entries a writer that died
left inside an entitlement document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from ds_common.events.consumer import Handler
from ds_common.events.contracts import StripeEventReceived, UserRegistered, UserUpdated
from ds_common.events.envelope import Envelope
from ds_common.runtime import Worker

from ds_billing.adapters.entitlements import EntitlementStore
from ds_billing.adapters.users import Users
from ds_billing.fulfilment import Fulfilment

logger = logging.getLogger("ds.billing.consumer")


def handlers(users: Users, fulfilment: Fulfilment) -> Mapping[str, Handler]:
    async def user_registered(event: Envelope) -> None:
        data = UserRegistered.model_validate(event.data)
        await users.record(data.user_id, data.email, event.sequence)

    async def user_updated(event: Envelope) -> None:
        data = UserUpdated.model_validate(event.data)
        await users.record(data.user_id, data.email, event.sequence)

    return {
        UserRegistered.event_type: user_registered,
        UserUpdated.event_type: user_updated,
        StripeEventReceived.event_type: fulfilment.handle,
    }


def ledger_sweeper(store: EntitlementStore, interval_s: float) -> Worker:
    """Every `interval_s`, copy the ledger entries of users changed since the previous sweep (with a
    margin); the first sweep after a start covers everyone, in case the last process died mid-way."""

    async def sweep(stop: asyncio.Event) -> None:
        since = datetime(1970, 1, 1, tzinfo=UTC)
        while not stop.is_set():
            started = store.clock.now()
            try:
                await store.sweep_ledger(since)
                since = started - timedelta(seconds=2 * interval_s)
            except Exception:
                logger.warning("ledger sweep failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    return sweep
