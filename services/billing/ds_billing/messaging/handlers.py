"""Billing's consumer: auth's user events (the e-mail projection) and its own Stripe wake-up events.

Also the ledger sweeper, a loop beside the poll loop that copies ledger entries a writer that died
left inside an entitlement document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from ds_common.clock import Clock
from ds_common.events.consumer import Handlers
from ds_common.events.contracts import StripeEventReceived, UserRegistered, UserUpdated
from ds_common.events.envelope import Envelope
from ds_common.runtime import Stores, Worker
from ds_common.service import outbox_nudge

from ds_billing.adapters.entitlements import PaymentLedger, entitlement_store
from ds_billing.adapters.stripe_records import StripeRecords
from ds_billing.adapters.users import Users
from ds_billing.service.fulfilment import Fulfilment
from ds_billing.settings import Settings

logger = logging.getLogger("ds.billing.consumer")


def handlers(stores: Stores, *, settings: Settings, clock: Clock) -> Handlers:
    users = Users(stores.db)
    store = entitlement_store(stores.db, outbox_nudge(settings, stores), clock)
    fulfilment = Fulfilment(StripeRecords(stores.db), store, settings.plans, clock)

    async def on_user_registered(data: UserRegistered, event: Envelope) -> None:
        await users.record(data.user_id, data.email, event.sequence)

    async def on_user_updated(data: UserUpdated, event: Envelope) -> None:
        await users.record(data.user_id, data.email, event.sequence)

    return {UserRegistered: on_user_registered, UserUpdated: on_user_updated, StripeEventReceived: fulfilment.handle}


def ledger_sweeper(ledger: PaymentLedger, clock: Clock, interval_s: float) -> Worker:
    """Every `interval_s`, copy the ledger entries of users changed since the previous sweep (with a
    margin); the first sweep after a start covers everyone, in case the last process died mid-way."""

    async def sweep(stop: asyncio.Event) -> None:
        since = datetime(1970, 1, 1, tzinfo=UTC)
        while not stop.is_set():
            started = clock.now()
            try:
                await ledger.sweep(since)
                since = started - timedelta(seconds=2 * interval_s)
            except Exception:
                logger.warning("ledger sweep failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    return sweep
