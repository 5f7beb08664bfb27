"""One billing deployment for the whole test session: API, relay and consumer in-process, on the
real FerretDB, Redis, Kafka and stripe-mock, with a fresh database and a fresh consumer group."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from asgi_lifespan import LifespanManager
from billing_helpers import WEBHOOK_SECRET, Billing
from ds_billing.main import api_app, consumer_app, relay_app
from ds_billing.settings import Settings
from ds_common.events.kafka import KafkaPublisher
from ds_common.mongo import Document
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_common.testing.kafka import start_group_at_end
from ds_common.testing.kit import MovableClock, in_process
from pydantic import SecretStr
from pymongo import AsyncMongoClient

CONSUMED = ["user.registered", "user.updated", "billing.stripe_event_received", "session.revoked"]


@pytest_asyncio.fixture(scope="session")
async def billing(endpoints: Endpoints, issuer: TestIssuer,
                  mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[Billing]:
    db_name = "billing" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:10]
    group = f"billing-test-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        mongo_url=endpoints.mongo_url, mongo_db=db_name, redis_url=endpoints.redis_url,
        kafka_bootstrap=endpoints.kafka_bootstrap, jwks_url=issuer.url, stripe_api_base=endpoints.stripe_api_base,
        stripe_webhook_secret=SecretStr(WEBHOOK_SECRET), consumer_group=group, ledger_sweep_interval_s=0.5,
        zpay_base_url=endpoints.zpay_base_url)
    await start_group_at_end(endpoints.kafka_bootstrap, group, CONSUMED)
    clock = MovableClock()
    api, relay, consumer = api_app(settings, clock=clock), relay_app(settings), consumer_app(settings, clock=clock)
    publisher = KafkaPublisher(endpoints.kafka_bootstrap, client_id="billing-tests")
    try:
        async with in_process(api, base_url="http://billing") as client, \
                LifespanManager(relay, shutdown_timeout=30), LifespanManager(consumer, shutdown_timeout=30):
            yield Billing(settings, client, mongo_client[db_name], clock, issuer, publisher,
                          endpoints.kafka_bootstrap, api)
    finally:
        await publisher.close()
        await mongo_client.drop_database(db_name)
