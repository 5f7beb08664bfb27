"""Stripe Checkout for learners: open a session for a plan of the catalogue, and check one.

The learner names a plan and nothing else: its days and price are the server's catalogue (W9).
Identical requests within one window (double clicks, retries) reuse one Stripe session through a
deterministic idempotency key. A session is answered to its owner only (or an admin): someone
else's looks exactly like an unknown one (W6).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ds_common.clock import Clock
from ds_common.errors import BadRequest, NotFound, ServiceUnavailable
from ds_common.events.contracts import Entitlement

from ds_billing.adapters.entitlements import EntitlementStore
from ds_billing.adapters.provider import (
    CheckoutRequest,
    CheckoutSession,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
)
from ds_billing.adapters.stripe_records import StripeRecords
from ds_billing.adapters.users import Users
from ds_billing.domain.plans import offer_for
from ds_billing.settings import PlanOffer

T = TypeVar("T")


@dataclass(frozen=True)
class SessionState:
    status: str  # Stripe's payment status
    fulfilled: bool  # its grant has been applied
    email: str | None  # the owner's
    entitlement: Entitlement  # the owner's


class Checkout:
    def __init__(self, provider: PaymentProvider, records: StripeRecords, store: EntitlementStore, users: Users,
                 plans: Mapping[str, PlanOffer], clock: Clock, *, success_url: str, cancel_url: str,
                 idempotency_window_s: int) -> None:
        self.provider = provider
        self.records = records
        self.store = store
        self.users = users
        self.plans = plans
        self.clock = clock
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.window_s = idempotency_window_s

    async def create_session(self, user_id: str, email: str | None, plan: str, duration: int | None,
                             recurring: bool) -> CheckoutSession:
        offer = offer_for(self.plans, plan, duration)
        mode = "subscription" if recurring else "payment"
        window = int(self.clock.now().timestamp()) // self.window_s
        request = CheckoutRequest(
            user_id=user_id, email=email or await self.users.email_of(user_id), plan=plan, recurring=recurring,
            price_id=offer.stripe_price_recurring if recurring else offer.stripe_price_one_time,
            success_url=self.success_url, cancel_url=self.cancel_url,
            idempotency_key=f"checkout-{user_id}-{plan}-{mode}-{window}")
        session = await stripe_call(self.provider.create_checkout(request))
        await self.records.opened(session.id, user_id=user_id, plan=plan, days=offer.days, mode=mode,
                                  provider=self.provider.name, at=self.clock.now())
        return session

    async def session_state(self, session_id: str, user_id: str, *, is_admin: bool) -> SessionState:
        ours = await self.records.checkout(session_id)
        if ours is None or (ours["user_id"] != user_id and not is_admin):
            raise NotFound("Session not found")
        status = await stripe_call(self.provider.checkout_payment_status(session_id))
        owner = str(ours["user_id"])
        entitlement = await self.store.current(owner)
        fulfilled = await self.store.has_applied(owner, f"checkout:{session_id}")
        return SessionState(status, fulfilled, await self.users.email_of(owner), entitlement)


async def stripe_call(call: Awaitable[T]) -> T:
    """A call to Stripe; its refusals are the client's (400), its failures a retry (503)."""
    try:
        return await call
    except ProviderError as exc:
        raise BadRequest(str(exc)) from None
    except ProviderUnavailable:
        raise ServiceUnavailable("Payment provider unavailable, please retry") from None
