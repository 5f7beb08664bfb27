"""The catalog's three processes: `api`, `relay` (outbox → Kafka) and `consumer` (Kafka → read model)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ds_common.clock import Clock, SystemClock
from ds_common.events.outbox import OutboxNudge
from ds_common.redis import KeySpace, RateLimiter
from ds_common.runtime import Stores
from ds_common.service import api_stores
from ds_common.service import consumer_app as common_consumer_app
from ds_common.service import relay_app as common_relay_app
from ds_common.web import create_app
from fastapi import FastAPI

from ds_catalog import SERVICE
from ds_catalog.adapters import catalog_repo, submissions_repo
from ds_catalog.adapters.cache import ReadCache
from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.adapters.submissions_repo import SubmissionsRepo
from ds_catalog.api import admin, channels, recommendations, reports, upload, videos
from ds_catalog.api.deps import ERRORS, Context
from ds_catalog.messaging.handlers import handlers
from ds_catalog.service.analytics import Analytics
from ds_catalog.service.channels import Channels
from ds_catalog.service.submissions import Submissions
from ds_catalog.service.uploads import Uploads
from ds_catalog.service.videos import Videos
from ds_catalog.settings import Settings

INDEXES = [*catalog_repo.INDEXES, *submissions_repo.INDEXES]
CONSUMER_GROUP = "catalog"
# Route order matters: `/service/channel/...` before `/service/{channel_id}/batch-visibility-update`.
ROUTERS = [channels.router, upload.router, videos.router, admin.router, recommendations.router, reports.router]


def context(settings: Settings, stores: Stores, nudge: OutboxNudge, clock: Clock) -> Context:
    keys = KeySpace(SERVICE)
    catalog, submissions = CatalogRepo(stores.db, nudge), SubmissionsRepo(stores.db)
    cache = ReadCache(stores.redis, keys)
    channel_cases = Channels(catalog, cache, clock, settings)
    return Context(settings=settings, channels=channel_cases, videos=Videos(catalog, cache, clock, settings),
                   uploads=Uploads(catalog, cache, clock),
                   submissions=Submissions(submissions, catalog, channel_cases, RateLimiter(stores.redis, keys),
                                           clock, settings),
                   analytics=Analytics(catalog, submissions, clock, settings))


def api_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with api_stores(settings, app, INDEXES) as stores:
            app.state.ctx = context(settings, stores, app.state.nudge, SystemClock())
            yield

    return create_app(settings, title="catalog", routers=ROUTERS, lifespan=lifespan, errors=ERRORS)


def relay_app(settings: Settings | None = None) -> FastAPI:
    return common_relay_app(settings or Settings(), catalog_repo.RELAYED, INDEXES)


def consumer_app(settings: Settings | None = None, *, group: str = CONSUMER_GROUP) -> FastAPI:
    return common_consumer_app(settings or Settings(), group=group, handlers_of=handlers, indexes=INDEXES)


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app}
