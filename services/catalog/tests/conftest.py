"""Catalog test fixtures: a fresh database per test, the API in process, tokens from a test issuer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from ds_catalog.main import api_app
from ds_catalog.settings import Settings
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_common.testing.kit import in_process
from pymongo import AsyncMongoClient


@pytest_asyncio.fixture
async def settings(endpoints: Endpoints, issuer: TestIssuer, mongo_client: AsyncMongoClient) -> AsyncIterator[Settings]:
    name = "catalog" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:10]
    yield Settings(mongo_url=endpoints.mongo_url, mongo_db=name, redis_url=endpoints.redis_url,
                   kafka_bootstrap=endpoints.kafka_bootstrap, jwks_url=issuer.url, environment="test")
    await mongo_client.drop_database(name)


@pytest_asyncio.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(api_app(settings), base_url="http://catalog") as http:
        yield http


@pytest.fixture
def admin(issuer: TestIssuer) -> dict[str, str]:
    return issuer.headers(f"admin-{uuid.uuid4().hex[:8]}", role="Admin", email="admin@example.com")


@pytest.fixture
def learner(issuer: TestIssuer) -> dict[str, str]:
    return issuer.headers(f"user-{uuid.uuid4().hex[:8]}", email="learner@example.com")
