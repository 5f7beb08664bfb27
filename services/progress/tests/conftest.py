"""Fixtures: the progress API in-process on the real stores, a controllable clock, Kafka helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest_asyncio
from asgi_lifespan import LifespanManager
from ds_common.clock import FixedClock
from ds_common.events.kafka import KafkaPublisher
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_progress.main import api_app
from ds_progress.settings import Settings
from pymongo.asynchronous.database import AsyncDatabase


@pytest_asyncio.fixture
async def settings(endpoints: Endpoints, issuer: TestIssuer, mongo_db: AsyncDatabase) -> Settings:
    return Settings(mongo_url=endpoints.mongo_url, mongo_db=mongo_db.name, redis_url=endpoints.redis_url,
                    kafka_bootstrap=endpoints.kafka_bootstrap, jwks_url=issuer.url, environment="test")


@pytest_asyncio.fixture
async def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest_asyncio.fixture
async def client(settings: Settings, clock: FixedClock) -> AsyncIterator[httpx.AsyncClient]:
    app = api_app(settings, clock=clock)
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                       base_url="http://progress") as http:
        http.app = app  # type: ignore[attr-defined]
        yield http


@pytest_asyncio.fixture
async def publisher(endpoints: Endpoints) -> AsyncIterator[KafkaPublisher]:
    kafka = KafkaPublisher(endpoints.kafka_bootstrap, client_id="progress-test")
    yield kafka
    await kafka.close()
