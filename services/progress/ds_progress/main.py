"""The progress service's three processes: API, outbox relay, consumer (with the journal compactor)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ds_common import service
from ds_common.clock import Clock, SystemClock
from ds_common.events.kafka import KafkaPublisher
from ds_common.events.outbox import OutboxNudge
from ds_common.lease import Lease
from ds_common.redis import KeySpace
from ds_common.runtime import Stores, Worker
from ds_common.web import create_app
from fastapi import FastAPI

from ds_progress.adapters import copies
from ds_progress.adapters.cache import ProgressCache
from ds_progress.adapters.catalog import CatalogView
from ds_progress.adapters.collections import INDEXES, OUTBOX_COLLECTIONS
from ds_progress.adapters.journal import Compactor, JournalWriter, ProgressReader, journal_nudge
from ds_progress.adapters.quota import QuotaLedgers
from ds_progress.adapters.stats import PracticeStats
from ds_progress.adapters.users import UserDirectory
from ds_progress.adapters.words import MissedWordLists
from ds_progress.api import progress, quota, stats, words
from ds_progress.api.deps import ERRORS, Context
from ds_progress.messaging.handlers import handlers
from ds_progress.service.progress import Progress
from ds_progress.service.quota import Quota
from ds_progress.service.statistics import Statistics
from ds_progress.service.words import MissedWords
from ds_progress.settings import Settings


def context(settings: Settings, stores: Stores, clock: Clock, nudge: OutboxNudge) -> Context:
    """The use cases of one API process, on its stores."""
    db, listings = stores.db, copies.listings(stores)
    scope = f"{settings.service_name}:{db.name}"
    cache = ProgressCache(stores.redis, KeySpace(settings.service_name), listings)
    quota_ = Quota(QuotaLedgers(db, copies.learners(stores), nudge, clock), cache, settings, clock)
    users, practice = UserDirectory(db), PracticeStats(db)
    return Context(
        settings=settings, quota=quota_,
        progress=Progress(quota_, JournalWriter(db, nudge=journal_nudge(stores.redis, scope)),
                          ProgressReader(db, listings), cache, practice,
                          CatalogView(db, copies.catalog(stores)), users, clock),
        statistics=Statistics(practice, users, clock),
        words=MissedWords(MissedWordLists(db, copies.missed_words(stores), clock)))


def api_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service.api_stores(settings, app, INDEXES) as stores:
            app.state.ctx = context(settings, stores, clock or SystemClock(), app.state.nudge)
            yield

    return create_app(settings, title="progress", lifespan=lifespan, errors=ERRORS,
                      routers=[progress.router, quota.router, stats.router, words.router])


def relay_app(settings: Settings | None = None) -> FastAPI:
    return service.relay_app(settings or Settings(), OUTBOX_COLLECTIONS, INDEXES)


def consumer_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    def compactor(stores: Stores) -> list[Worker]:
        async def run(stop: asyncio.Event) -> None:
            publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="progress-journal")
            try:
                scope = f"{settings.service_name}:{stores.db.name}"
                lease = Lease(stores.redis, f"{scope}:journal:lease")  # one compactor, whatever the replicas
                await Compactor(stores.db, publisher, nudge=journal_nudge(stores.redis, scope), lease=lease).run(stop)
            finally:
                await publisher.close()
        return [run]

    return service.consumer_app(settings, group=settings.consumer_group, handlers_of=handlers, indexes=INDEXES,
                                workers=compactor)


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app}
