"""Auth test fixtures: one loopback identity provider per session, one auth API (fresh database)
per test module, driven in-process against the real FerretDB, Redis (and Kafka where needed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from auth_helpers import IdentityProvider, letters_only, make_settings, running_api
from ds_auth.settings import Settings
from ds_common.testing.infra import Endpoints
from ds_common.testing.kit import MovableClock
from fastapi import FastAPI
from pymongo import AsyncMongoClient


@pytest.fixture(scope="session")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    provider.serve()
    yield provider
    provider.close()


@pytest_asyncio.fixture(scope="module")
async def db_name(mongo_client: AsyncMongoClient) -> AsyncIterator[str]:
    name = letters_only("auth")
    yield name
    await mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def settings(endpoints: Endpoints, idp: IdentityProvider, db_name: str) -> Settings:
    return make_settings(endpoints, idp, db_name)


@pytest.fixture(scope="module")
def clock() -> MovableClock:
    return MovableClock()


@pytest_asyncio.fixture(scope="module")
async def api(settings: Settings, clock: MovableClock) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    async with running_api(settings, clock) as running:
        yield running


@pytest.fixture
def client(api: tuple[httpx.AsyncClient, FastAPI]) -> httpx.AsyncClient:
    return api[0]


@pytest.fixture
def app(api: tuple[httpx.AsyncClient, FastAPI]) -> FastAPI:
    return api[1]
