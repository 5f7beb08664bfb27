"""The three processes of billing: `api` (Stripe webhooks → Kafka), `relay` (outbox → Kafka),
`consumer` (events → effects).

`python -m ds_billing api|relay|consumer [--port P] [--workers N]`. Factories take optional
Settings and, for tests, a clock and a payment provider.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Sequence

from ds_common.clock import Clock, SystemClock
from ds_common.events.kafka import KafkaPublisher
from ds_common.redis import KeySpace, RateLimiter
from ds_common.runtime import Stores, Worker
from ds_common.service import api_stores, outbox_nudge
from ds_common.service import consumer_app as make_consumer
from ds_common.service import relay_app as make_relay
from ds_common.web import create_app
from fastapi import FastAPI

from ds_billing.adapters.audit import AuditLog
from ds_billing.adapters.codes import Codes
from ds_billing.adapters.collections import INDEXES, RELAYED
from ds_billing.adapters.entitlements import PaymentLedger, entitlement_store
from ds_billing.adapters.provider import PaymentProvider, StripeProvider
from ds_billing.adapters.stripe_records import StripeRecords
from ds_billing.adapters.users import Users
from ds_billing.adapters.zpay import ZPayProvider
from ds_billing.adapters.zpay_orders import ZPayOrders
from ds_billing.api import admin, checkout, codes, webhook, zpay
from ds_billing.api.deps import ERRORS, Context
from ds_billing.messaging.handlers import handlers, ledger_sweeper
from ds_billing.service.checkout import Checkout
from ds_billing.service.fulfilment import Inbox
from ds_billing.service.membership import Membership
from ds_billing.service.zpay import ZPayPayments
from ds_billing.settings import Settings


def stripe_provider(settings: Settings) -> StripeProvider:
    return StripeProvider(api_key=settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base,
                          webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
                          tolerance_s=settings.stripe_webhook_tolerance_s, timeout_s=settings.stripe_timeout_s)


def zpay_provider(settings: Settings) -> ZPayProvider:
    return ZPayProvider(base_url=settings.zpay_base_url, pid=settings.zpay_pid,
                        key=settings.zpay_key.get_secret_value(), notify_url=settings.zpay_notify_url,
                        return_url=settings.zpay_return_url, sitename=settings.zpay_sitename,
                        submit_url=settings.zpay_submit_url, timeout_s=settings.zpay_timeout_s)


def api_app(settings: Settings | None = None, *, clock: Clock | None = None,
            provider: PaymentProvider | None = None, zpay_gateway: ZPayProvider | None = None) -> FastAPI:
    settings = settings or Settings()
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with api_stores(settings, app, INDEXES) as stores:
            publisher = KafkaPublisher(settings.kafka_bootstrap, client_id=f"{settings.service_name}-webhooks")
            payments = provider or stripe_provider(settings)
            zpay_payments = zpay_gateway or zpay_provider(settings)
            store = entitlement_store(stores.db, outbox_nudge(settings, stores), clock)
            users = Users(stores.db)
            records = StripeRecords(stores.db)
            code_store = Codes(stores.db, settings.code_secret.get_secret_value().encode(),
                               lifetime_s=settings.code_lifetime_s, clock=clock)
            app.state.ctx = Context(
                settings=settings, provider=payments,
                checkout=Checkout(payments, records, store, users, settings.plans, clock,
                                  success_url=settings.checkout_success_url, cancel_url=settings.checkout_cancel_url,
                                  idempotency_window_s=settings.checkout_idempotency_window_s),
                inbox=Inbox(payments, publisher, stores.redis, KeySpace(settings.service_name)),
                membership=Membership(store, code_store, users, AuditLog(stores.db, clock), payments, clock),
                zpay=ZPayPayments(ZPayOrders(stores.db), zpay_payments, store, users, settings.plans, clock),
                limiter=RateLimiter(stores.redis, KeySpace(settings.service_name)))
            try:
                yield
            finally:
                await publisher.close()
                if provider is None:
                    await payments.aclose()
                if zpay_gateway is None:
                    await zpay_payments.aclose()

    return create_app(settings, title="billing", lifespan=lifespan, errors=ERRORS,
                      routers=[checkout.router, webhook.router, codes.router, admin.router, zpay.router])


def relay_app(settings: Settings | None = None) -> FastAPI:
    return make_relay(settings or Settings(), RELAYED, INDEXES)


def consumer_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    clock = clock or SystemClock()

    def workers(stores: Stores) -> Sequence[Worker]:
        return [ledger_sweeper(PaymentLedger(stores.db), clock, settings.ledger_sweep_interval_s)]

    return make_consumer(settings, group=settings.consumer_group, indexes=INDEXES, workers=workers,
                         handlers_of=functools.partial(handlers, settings=settings, clock=clock))


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app}
