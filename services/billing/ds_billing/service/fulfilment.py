"""Stripe webhook events: put on Kafka by the API, fulfilled by the consumer.

Ingestion (API): a verified, allow-listed event is read into a fact (`domain.stripe_facts`) and
published as `billing.stripe_event_received` (acks=all) before the webhook is acknowledged. The
event needs no state of ours written with it, so Kafka is its only store: the request touches
no database (it ran at the pace of the test store's write lock when it inserted an inbox
document for a relay). If Kafka does not take it, the webhook answers 503 and Stripe retries.

Fulfilment (consumer): every grant is keyed by a deterministic operation id (checkout session,
invoice, charge) that the entitlement store applies at most once, however late a duplicate
comes; subscription states fold in idempotently. Then the event is recorded in `stripe_events`
(insert-only), and a later delivery of the same Stripe event (ten deliveries, concurrent or not,
are published ten times) finds that record and is skipped. A crash anywhere replays harmlessly.

Who and what: the user id and plan come from the metadata our own server put on the Checkout
Session and its Subscription (a client never sets them; the event is signed),
and the number of days from the server's plan catalogue (W9). Nothing on this path reads a
collection that grows without bound (see `adapters.collections`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ds_common.clock import Clock
from ds_common.events.consumer import PoisonMessage
from ds_common.events.contracts import PlanName, StripeEventReceived
from ds_common.events.envelope import Envelope, new_event
from ds_common.events.kafka import EventPublisher
from ds_common.redis import KeySpace
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ds_billing.adapters.entitlements import AccountChange, EntitlementStore, Payment
from ds_billing.adapters.provider import PaymentProvider, VerifiedEvent
from ds_billing.adapters.stripe_records import StripeRecords
from ds_billing.domain import stripe_facts
from ds_billing.domain.entitlement import Account, SubscriptionUpdate
from ds_billing.domain.stripe_facts import ALLOWED_TYPES, CheckoutFact, Fact, InvoiceFact, RefundFact, SubscriptionFact
from ds_billing.settings import PlanOffer

logger = logging.getLogger("ds.billing.webhook")


class EventBusUnavailable(Exception):
    """Kafka did not acknowledge the event: it is not stored, the sender must retry."""


class RetryLater(Exception):
    """The event refers to something not known yet (events out of order); the consumer retries."""


@dataclass(frozen=True)
class Received:
    """What became of a verified webhook: dropped (a type we do not act on, or an object we cannot
    read), or accepted (`duplicate`: it had been accepted before)."""

    ignored: bool = False
    duplicate: bool = False


class Inbox:
    """The API side: verify a Stripe webhook and hand its event to the consumer through Kafka."""

    ACCEPTED_TTL_S = 7 * 24 * 3600  # Stripe retries an event for up to three days

    def __init__(self, provider: PaymentProvider, publisher: EventPublisher, redis: Redis, keys: KeySpace) -> None:
        self.provider = provider
        self.publisher = publisher
        self.redis = redis
        self.keys = keys

    async def receive(self, payload: bytes, signature: str | None) -> Received:
        """Raises InvalidWebhook (not Stripe's, or not readable) or EventBusUnavailable."""
        event = self.provider.verify_webhook(payload, signature)
        if event.type not in ALLOWED_TYPES:
            return Received(ignored=True)  # acknowledged, so Stripe stops resending it
        try:
            fact = stripe_facts.read(event.type, event.created, event.object)
        except (KeyError, TypeError, ValueError):
            # Signed by Stripe but not something we can act on: resending it would not help.
            logger.warning("unreadable Stripe %s event %s acknowledged and dropped", event.type, event.id)
            return Received(ignored=True)
        try:
            return Received(duplicate=not await self.accept(event, fact))
        except EventBusUnavailable:
            logger.warning("Stripe %s event %s not accepted: Kafka unavailable", event.type, event.id)
            raise

    async def accept(self, event: VerifiedEvent, fact: Fact) -> bool:
        """Publish the event; True unless it was accepted before (then it was published again,
        which the consumer skips). Raises EventBusUnavailable when Kafka does not take it."""
        wake = new_event(StripeEventReceived(stripe_event_id=event.id, stripe_type=event.type, created=event.created,
                                             fact=stripe_facts.to_data(fact)),
                         key=stripe_facts.routing_key(event.object), sequence=1)
        try:
            await self.publisher.publish([wake])
        except Exception as exc:  # aiokafka raises several types; any of them means "not stored"
            raise EventBusUnavailable(str(exc)) from exc
        try:  # only the reply's "duplicate" flag depends on this
            first = await self.redis.set(self.keys("stripe-accepted", event.id), "1", nx=True, ex=self.ACCEPTED_TTL_S)
        except RedisError:
            return True
        return bool(first)


class Fulfilment:
    """The consumer side: apply one stored Stripe event to the entitlements."""

    def __init__(self, records: StripeRecords, store: EntitlementStore, plans: Mapping[str, PlanOffer],
                 clock: Clock) -> None:
        self.records = records
        self.store = store
        self.plans = plans
        self.clock = clock

    async def handle(self, data: StripeEventReceived, envelope: Envelope) -> None:
        if await self.records.fulfilled(data.stripe_event_id):
            return  # fulfilled already: a repeat delivery of the Stripe event, or a repeat publish
        try:
            fact = stripe_facts.from_data(data.fact or {})
        except (KeyError, ValueError) as exc:
            raise PoisonMessage(f"unreadable fact in {data.stripe_event_id}: {exc}") from exc
        outcome = await self._apply(fact, data.stripe_event_id, data.created, envelope)
        logger.info("Stripe %s event %s: %s", data.stripe_type, data.stripe_event_id, outcome)
        await self.records.record_fulfilled(data.stripe_event_id, type=data.stripe_type, created=data.created,
                                            received_at=envelope.occurred_at, processed_at=self.clock.now(),
                                            fact=data.fact, outcome=outcome)

    async def _apply(self, fact: Fact, event_id: str, created: datetime, cause: Envelope) -> str:
        if isinstance(fact, CheckoutFact):
            return await self._checkout(fact, event_id, created, cause)
        if isinstance(fact, InvoiceFact):
            return await self._invoice(fact, event_id, cause)
        if isinstance(fact, SubscriptionFact):
            return await self._subscription(fact, event_id, cause)
        return await self._refund(fact, event_id, cause)

    async def _checkout(self, fact: CheckoutFact, event_id: str, created: datetime, cause: Envelope) -> str:
        if not fact.paid:
            status = "failed" if fact.failed else "awaiting_payment"
            await self.records.checkout_status(fact.session_id, status)
            return status
        if fact.user_id is None or fact.plan is None or fact.plan not in self.plans:
            raise PoisonMessage(f"checkout {fact.session_id} names no known user and plan")
        user_id, plan = fact.user_id, fact.plan
        offer, op, actor = self.plans[plan], f"checkout:{fact.session_id}", f"stripe:{event_id}"
        if fact.mode == "subscription":
            if fact.subscription_id is None:
                raise PoisonMessage(f"subscription checkout {fact.session_id} without a subscription")
            await self.records.remember(fact.subscription_id, user_id=user_id, plan=plan, grant_id=op)
            # Provisional period until Stripe's own subscription/invoice events state the real one.
            update = SubscriptionUpdate(id=fact.subscription_id, observed_at=created, plan=plan,
                                        period_end=created + timedelta(days=offer.days))
            await self.store.apply(user_id, op,
                                   lambda a, _: AccountChange(a.update_subscription(update), "subscription"),
                                   source="stripe", actor=actor, reason="subscription started", causation=cause)
            return "subscribed"
        if fact.payment_intent:  # for a refund later
            await self.records.remember(fact.payment_intent, user_id=user_id, plan=plan, grant_id=op)
        payment = Payment("stripe", plan, offer.days, fact.amount_minor, fact.currency, fact.session_id)

        def grant(account: Account, now: datetime) -> AccountChange:
            return AccountChange(account.grant(grant_id=op, plan=plan, days=offer.days, now=now, source="stripe"),
                                 "grant", payment)

        outcome = await self.store.apply(user_id, op, grant, source="stripe", actor=actor, reason="checkout paid",
                                         causation=cause)
        return "fulfilled" if outcome.applied else "already fulfilled"

    async def _invoice(self, fact: InvoiceFact, event_id: str, cause: Envelope) -> str:
        if fact.subscription_id is None:
            return "ignored: not a subscription invoice"
        user_id, plan = await self._owner(fact.subscription_id, fact.user_id, fact.plan)
        # An invoice states no status: only the period moves (forward), status stays Stripe's last word.
        update = SubscriptionUpdate(id=fact.subscription_id, observed_at=self.clock.now(), plan=plan,
                                    period_end=fact.period_end)
        days = ((fact.period_end - fact.period_start).days if fact.period_end and fact.period_start
                else self.plans[plan].days)
        payment = Payment("stripe", plan, days, fact.amount_minor, fact.currency, fact.invoice_id)
        outcome = await self.store.apply(
            user_id, f"invoice:{fact.invoice_id}",
            lambda a, _: AccountChange(a.update_subscription(update), "subscription", payment),
            source="stripe", actor=f"stripe:{event_id}", reason="subscription invoice paid", causation=cause)
        return "fulfilled" if outcome.applied else "no change"

    async def _subscription(self, fact: SubscriptionFact, event_id: str, cause: Envelope) -> str:
        user_id, plan = await self._owner(fact.update.id, fact.user_id, fact.update.plan)
        update = dataclasses.replace(fact.update, plan=plan)
        # No operation id: folding the same state in twice changes nothing.
        outcome = await self.store.apply(
            user_id, f"stripe:{event_id}", lambda a, _: AccountChange(a.update_subscription(update), "subscription"),
            source="stripe", actor=f"stripe:{event_id}", reason=f"subscription {update.status}", causation=cause,
            record_op=False)
        return "applied" if outcome.applied else "no change"

    async def _refund(self, fact: RefundFact, event_id: str, cause: Envelope) -> str:
        ref = await self.records.ref(fact.payment_intent) if fact.payment_intent else None
        if ref is None:
            if fact.invoice_id or not fact.payment_intent:
                return "ignored: not a one-time purchase"
            raise RetryLater(f"refund of unknown payment {fact.payment_intent}")
        if not fact.full:
            return "ignored: partial refund"
        grant_id = str(ref["grant_id"])

        def revoke(account: Account, now: datetime) -> AccountChange | None:
            revoked = account.revoke(grant_id, now)
            return None if revoked is None else AccountChange(revoked, "refund")

        outcome = await self.store.apply(str(ref["user_id"]), f"refund:{fact.charge_id}", revoke, source="refund",
                                         actor=f"stripe:{event_id}", reason="charge refunded", causation=cause)
        return "revoked" if outcome.applied else "no change"

    async def _owner(self, subscription_id: str, user_id: str | None,
                     plan: PlanName | None) -> tuple[str, PlanName]:
        if user_id is not None and plan is not None and plan in self.plans:
            return user_id, plan  # our metadata travelled with the subscription: no lookup
        ref = await self.records.ref(subscription_id)
        user_id = user_id or (ref["user_id"] if ref else None)
        plan = plan or (ref["plan"] if ref else None)
        if user_id is None or plan is None or plan not in self.plans:
            raise RetryLater(f"subscription {subscription_id} not known yet")
        return user_id, plan
