"""Transcripts settings: `DS_TRANSCRIPTS_<FIELD>`, falling back to the shared `DS_<FIELD>`."""

from __future__ import annotations

from ds_common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("TRANSCRIPTS")

    service_name: str = "transcripts"
    mongo_db: str = "transcripts"
    consumer_group: str = "transcripts"

    # progress answers the authoritative access question on a projection miss.
    progress_url: str = "http://127.0.0.1:8104"
    progress_timeout_s: float = 2.0
    # A positive access decision is reused in-process this long (bounded by plan expiry / cycle end).
    access_cache_ttl_s: float = 30.0
    access_checks_per_minute: int = 120  # calls to progress per learner (projection misses only)

    # Ready-to-send transcript bytes in Redis, and a tiny per-process copy in front of them.
    cache_ttl_s: int = 86_400
    local_cache_size: int = 512
    local_cache_ttl_s: float = 1.0

    # Upstream fetching (YouTube): thread pool size per process, time limits, backoff when blocked.
    fetch_threads: int = 2
    fetch_timeout_s: float = 30.0
    fetch_wait_s: float = 20.0  # how long a reader waits for someone else's fetch of the same video
    blocked_backoff_s: int = 60
    blocked_backoff_max_s: int = 3_600
    youtube_proxy_url: str | None = None  # e.g. a rotating proxy, when YouTube blocks this host
    ytdlp_cookie_file: str | None = None  # a path mounted from a secret store, never in the repo (W16)

    # Consumer prefetch: bounded queue, bounded concurrency, and a sweep for retries.
    prefetch_queue_size: int = 1_000
    prefetch_sweep_interval_s: float = 60.0
