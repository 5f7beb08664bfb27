"""The progress service's three processes: API, outbox relay, consumer (with the journal compactor)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from ds_common import service
from ds_common.clock import Clock, SystemClock
from ds_common.events.kafka import KafkaPublisher
from ds_common.runtime import Stores, Worker
from ds_common.web import create_app
from fastapi import FastAPI

from ds_progress.adapters.collections import INDEXES, OUTBOX_COLLECTIONS
from ds_progress.adapters.journal import Compactor
from ds_progress.api import progress, quota, stats, words
from ds_progress.api.context import Context
from ds_progress.messaging.handlers import handlers
from ds_progress.settings import Settings


def api_app(settings: Settings | None = None, *, clock: Clock | None = None,
            http: httpx.AsyncClient | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service.api_stores(settings, app, INDEXES) as stores:
            client = http or httpx.AsyncClient(timeout=10)
            app.state.ctx = Context.build(settings, stores, clock or SystemClock(), app.state.nudge, client)
            try:
                yield
            finally:
                if http is None:
                    await client.aclose()

    return create_app(settings, title="progress", lifespan=lifespan,
                      routers=[progress.router, quota.router, stats.router, words.router])


def relay_app(settings: Settings | None = None) -> FastAPI:
    return service.relay_app(settings or Settings(), OUTBOX_COLLECTIONS, INDEXES)


def consumer_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def compactor(stores: Stores) -> list[Worker]:
        async def run(stop: asyncio.Event) -> None:
            publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="progress-journal")
            try:
                await Compactor(stores.db, publisher).run(stop)
            finally:
                await publisher.close()
        return [run]

    return service.consumer_app(settings, group=settings.consumer_group, handlers=handlers, indexes=INDEXES,
                                workers=compactor)


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app}
