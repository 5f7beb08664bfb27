"""The catalog's three processes: `api`, `relay` (outbox → Kafka) and `consumer` (Kafka → read model)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from ds_common.clock import SystemClock
from ds_common.events.consumer import Handler
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
from ds_catalog.api.deps import Ctx
from ds_catalog.messaging.handlers import catalog_handlers
from ds_catalog.settings import Settings

INDEXES = [*catalog_repo.INDEXES, *submissions_repo.INDEXES]
CONSUMER_GROUP = "catalog"
# Route order matters: `/service/channel/...` before `/service/{channel_id}/batch-visibility-update`.
ROUTERS = [channels.router, upload.router, videos.router, admin.router, recommendations.router, reports.router]


def api_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with api_stores(settings, app, INDEXES) as stores:
            keys = KeySpace(SERVICE)
            app.state.ctx = Ctx(settings=settings, catalog=CatalogRepo(stores.db, app.state.nudge),
                                submissions=SubmissionsRepo(stores.db), cache=ReadCache(stores.redis, keys),
                                nudge=app.state.nudge, limiter=RateLimiter(stores.redis, keys), clock=SystemClock())
            yield

    return create_app(settings, title="catalog", routers=ROUTERS, lifespan=lifespan)


def relay_app(settings: Settings | None = None) -> FastAPI:
    return common_relay_app(settings or Settings(), catalog_repo.RELAYED, INDEXES)


def handlers_for(stores: Stores) -> Mapping[str, Handler]:
    return catalog_handlers(CatalogRepo(stores.db), SubmissionsRepo(stores.db),
                            ReadCache(stores.redis, KeySpace(SERVICE)))


def consumer_app(settings: Settings | None = None, *, group: str = CONSUMER_GROUP) -> FastAPI:
    return common_consumer_app(settings or Settings(), group=group, handlers=handlers_for, indexes=INDEXES)


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app}
