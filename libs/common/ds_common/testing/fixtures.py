"""pytest fixtures over the real infrastructure, loaded by the root conftest for every test tree."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from ds_common.mongo import Document, make_mongo_client
from ds_common.redis import make_redis
from ds_common.testing.infra import Endpoints, test_endpoints
from ds_common.testing.jwks import TestIssuer


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    with test_endpoints() as found:
        yield found


@pytest.fixture(scope="session")
def issuer() -> Iterator[TestIssuer]:
    token_issuer = TestIssuer()
    token_issuer.serve()
    yield token_issuer
    token_issuer.close()


@pytest_asyncio.fixture(scope="session")
async def mongo_client(endpoints: Endpoints) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = make_mongo_client(endpoints.mongo_url)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def mongo_db(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[AsyncDatabase[Document]]:
    """A fresh database per test (letters only: FerretDB's rule for database names)."""
    name = "t" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:12]
    yield mongo_client[name]
    await mongo_client.drop_database(name)


@pytest_asyncio.fixture
async def redis(endpoints: Endpoints) -> AsyncIterator[Redis]:
    client = make_redis(endpoints.redis_url)
    yield client
    await client.aclose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
