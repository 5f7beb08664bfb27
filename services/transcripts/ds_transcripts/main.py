"""The three processes of transcripts: `api`, `relay` (outbox → Kafka), `consumer` (events → effects).

`python -m ds_transcripts api|relay|consumer [--port P] [--workers N]`; factories take optional
Settings (and, for tests, a Fetcher built on recorded responses).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from ds_common.events.consumer import Handlers
from ds_common.redis import KeySpace, RateLimiter
from ds_common.runtime import Stores, Worker
from ds_common.service import api_stores, outbox_nudge
from ds_common.service import consumer_app as make_consumer
from ds_common.service import relay_app as make_relay
from ds_common.web import create_app
from fastapi import FastAPI

from ds_transcripts.adapters.blocked import UpstreamBlock
from ds_transcripts.adapters.cache import TranscriptCache
from ds_transcripts.adapters.fetcher import Fetcher
from ds_transcripts.adapters.progress import ProgressClient
from ds_transcripts.adapters.projections import AccessProjections
from ds_transcripts.adapters.singleflight import SingleFlight
from ds_transcripts.adapters.store import INDEXES, TRANSCRIPTS, FilterStore, TranscriptStore
from ds_transcripts.adapters.youtube import YouTubeTranscripts
from ds_transcripts.adapters.ytdlp import YtDlpSubtitles
from ds_transcripts.api import admin, public
from ds_transcripts.api.deps import ERRORS, Context
from ds_transcripts.messaging.handlers import handlers
from ds_transcripts.messaging.prefetch import Prefetcher
from ds_transcripts.service.access_control import AccessControl
from ds_transcripts.service.editing import Editor
from ds_transcripts.service.transcripts import Transcripts
from ds_transcripts.service.videos import VideoEvents
from ds_transcripts.settings import Settings


def default_fetcher(settings: Settings) -> Fetcher:
    timeout = settings.fetch_timeout_s / 2  # two paths must fit in one fetch budget
    return Fetcher(YouTubeTranscripts(timeout_s=timeout, proxy_url=settings.youtube_proxy_url),
                   YtDlpSubtitles(timeout_s=timeout, proxy_url=settings.youtube_proxy_url,
                                  cookie_file=settings.ytdlp_cookie_file),
                   threads=settings.fetch_threads, timeout_s=settings.fetch_timeout_s)


def build_transcripts(settings: Settings, stores: Stores, fetcher: Fetcher) -> Transcripts:
    keys = KeySpace(settings.service_name)
    cache = TranscriptCache(stores.redis, keys, ttl_s=settings.cache_ttl_s, local_size=settings.local_cache_size,
                            local_ttl_s=settings.local_cache_ttl_s)
    flights = SingleFlight(stores.redis, keys, lock_ttl_s=settings.fetch_timeout_s + 10,
                           wait_s=settings.fetch_wait_s)
    store = TranscriptStore.on(stores.db, nudge=outbox_nudge(settings, stores))
    return Transcripts(store, cache, fetcher, flights, UpstreamBlock(stores.redis, keys),
                       backoff_s=settings.blocked_backoff_s, backoff_max_s=settings.blocked_backoff_max_s)


def api_app(settings: Settings | None = None, *, fetcher: Fetcher | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with api_stores(settings, app, INDEXES) as stores:
            upstream = fetcher or default_fetcher(settings)
            progress = ProgressClient(settings.progress_url, timeout_s=settings.progress_timeout_s)
            transcripts = build_transcripts(settings, stores, upstream)
            app.state.ctx = Context(
                transcripts=transcripts, editor=Editor(transcripts, FilterStore(stores.db)),
                access=AccessControl(AccessProjections(stores.db), progress, ttl_s=settings.access_cache_ttl_s,
                                     limiter=RateLimiter(stores.redis, KeySpace(settings.service_name)),
                                     checks_per_minute=settings.access_checks_per_minute))
            try:
                yield
            finally:
                await progress.aclose()
                if fetcher is None:
                    upstream.close()

    return create_app(settings, title="transcripts", routers=[public.router, admin.router], lifespan=lifespan,
                      errors=ERRORS)


def relay_app(settings: Settings | None = None) -> FastAPI:
    return make_relay(settings or Settings(), [TRANSCRIPTS], INDEXES)


def consumer_app(settings: Settings | None = None, *, fetcher: Fetcher | None = None) -> FastAPI:
    settings = settings or Settings()
    prefetchers: dict[int, Prefetcher] = {}  # the handlers and the worker share one queue per stores

    def prefetcher(stores: Stores) -> Prefetcher:
        if id(stores) not in prefetchers:
            transcripts = build_transcripts(settings, stores, fetcher or default_fetcher(settings))
            prefetchers[id(stores)] = Prefetcher(transcripts, concurrency=settings.fetch_threads,
                                                 queue_size=settings.prefetch_queue_size,
                                                 sweep_interval_s=settings.prefetch_sweep_interval_s)
        return prefetchers[id(stores)]

    def handlers_of(stores: Stores) -> Handlers:
        queue = prefetcher(stores)
        return handlers(stores, VideoEvents(queue.transcripts, queue.enqueue))

    def workers(stores: Stores) -> Sequence[Worker]:
        return [prefetcher(stores).run]

    return make_consumer(settings, group=settings.consumer_group, handlers_of=handlers_of, indexes=INDEXES,
                         workers=workers)


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app}
