"""The processes of transcripts: `api`, `relay` (outbox → Kafka), `consumer` (events → effects) and
`stt` (speech-to-text jobs; scaled on its own: it needs CPU and memory the others do not).

`python -m ds_transcripts api|relay|consumer|stt [--port P] [--workers N]`; factories take optional
Settings (and, for tests, a Fetcher built on recorded responses).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from ds_common.events.consumer import Handlers
from ds_common.events.contracts import SpeechToTextRequested
from ds_common.redis import KeySpace, RateLimiter
from ds_common.runtime import Stores, Worker
from ds_common.service import api_stores, outbox_nudge
from ds_common.service import consumer_app as make_consumer
from ds_common.service import relay_app as make_relay
from ds_common.web import create_app
from fastapi import FastAPI

from ds_transcripts.adapters.audio import AudioStore
from ds_transcripts.adapters.blocked import UpstreamBlock
from ds_transcripts.adapters.cache import TranscriptCache
from ds_transcripts.adapters.fetcher import Fetcher
from ds_transcripts.adapters.jobs import JOB_INDEXES, STT_JOBS, JobStore
from ds_transcripts.adapters.progress import ProgressClient
from ds_transcripts.adapters.projections import AccessProjections
from ds_transcripts.adapters.singleflight import SingleFlight
from ds_transcripts.adapters.store import INDEXES as TRANSCRIPT_INDEXES
from ds_transcripts.adapters.store import TRANSCRIPTS, FilterStore, TranscriptStore
from ds_transcripts.adapters.whisper import WhisperTranscriber, default_model_path
from ds_transcripts.adapters.youtube import YouTubeTranscripts
from ds_transcripts.adapters.ytdlp import YtDlpSubtitles
from ds_transcripts.api import admin, public, speech
from ds_transcripts.api.deps import ERRORS, Context
from ds_transcripts.messaging.handlers import handlers
from ds_transcripts.messaging.prefetch import Prefetcher
from ds_transcripts.messaging.speech_worker import Limits, SpeechWorker
from ds_transcripts.service.access_control import AccessControl
from ds_transcripts.service.editing import Editor
from ds_transcripts.service.speech import SpeechJobs
from ds_transcripts.service.transcripts import Transcripts
from ds_transcripts.service.videos import VideoEvents
from ds_transcripts.settings import Settings

INDEXES = [*TRANSCRIPT_INDEXES, *JOB_INDEXES]
PACKAGED_MODEL = "whisper-tiny.en"


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
    no_captions = speech_jobs(settings, stores).when_no_captions if settings.stt_on_missing_captions else None
    return Transcripts(store, cache, fetcher, flights, UpstreamBlock(stores.redis, keys),
                       backoff_s=settings.blocked_backoff_s, backoff_max_s=settings.blocked_backoff_max_s,
                       on_no_captions=no_captions)


def stt_model(settings: Settings) -> tuple[Path, str]:
    """The model directory and the name jobs and transcripts give it."""
    if settings.stt_model_path:
        path = Path(settings.stt_model_path)
        return path, settings.stt_model_name or path.name
    return default_model_path(), settings.stt_model_name or PACKAGED_MODEL


def speech_jobs(settings: Settings, stores: Stores) -> SpeechJobs:
    return SpeechJobs(JobStore(stores.db, nudge=outbox_nudge(settings, stores)), AudioStore(stores.db),
                      TranscriptStore.on(stores.db, nudge=outbox_nudge(settings, stores)),
                      model=stt_model(settings)[1], max_upload_bytes=settings.stt_max_upload_mb << 20)


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
                                     checks_per_minute=settings.access_checks_per_minute),
                speech=speech_jobs(settings, stores))
            try:
                yield
            finally:
                await progress.aclose()
                if fetcher is None:
                    upstream.close()

    return create_app(settings, title="transcripts", routers=[public.router, admin.router, speech.router],
                      lifespan=lifespan, errors=ERRORS)


def relay_app(settings: Settings | None = None) -> FastAPI:
    return make_relay(settings or Settings(), [TRANSCRIPTS, STT_JOBS], INDEXES)


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


def stt_app(settings: Settings | None = None, *, transcriber: WhisperTranscriber | None = None) -> FastAPI:
    """The speech-to-text worker: takes `transcript.stt_requested` in its own consumer group."""
    settings = settings or Settings()
    path, name = stt_model(settings)
    whisper = transcriber or WhisperTranscriber(
        path, compute_type=settings.stt_compute_type, cpu_threads=settings.stt_cpu_threads,
        concurrency=settings.stt_concurrency, beam_size=settings.stt_beam_size, vad=settings.stt_vad,
        sampling_fallback=settings.stt_sampling_fallback)
    limits = Limits(concurrency=settings.stt_concurrency, lease_s=settings.stt_lease_s,
                    max_attempts=settings.stt_max_attempts, retry_backoff_s=settings.stt_retry_backoff_s,
                    timeout_base_s=settings.stt_timeout_base_s,
                    timeout_s_per_audio_minute=settings.stt_timeout_s_per_audio_minute,
                    sweep_interval_s=settings.stt_sweep_interval_s, download_timeout_s=settings.fetch_timeout_s,
                    language=settings.stt_language)
    speech_workers: dict[int, SpeechWorker] = {}

    def worker(stores: Stores) -> SpeechWorker:
        if id(stores) not in speech_workers:
            jobs = speech_jobs(settings, stores)
            speech_workers[id(stores)] = SpeechWorker(
                jobs.jobs, jobs.audio, build_transcripts(settings, stores, default_fetcher(settings)), whisper,
                model=name, limits=limits, proxy_url=settings.youtube_proxy_url,
                cookie_file=settings.ytdlp_cookie_file)
        return speech_workers[id(stores)]

    return make_consumer(settings, group=settings.stt_consumer_group,
                         handlers_of=lambda stores: {SpeechToTextRequested: worker(stores).on_requested},
                         indexes=INDEXES, workers=lambda stores: [worker(stores).run])


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app, "stt": stt_app}
