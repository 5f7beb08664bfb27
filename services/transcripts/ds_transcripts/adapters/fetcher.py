"""Primary path (youtube-transcript-api), then the fallback (yt-dlp subtitles), off the event loop.

The libraries are synchronous, so fetches run in a small dedicated thread pool: its size bounds
how many upstream fetches one process runs at once, and the event loop (API requests, the Kafka
poll loop) never waits on YouTube.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from prometheus_client import Counter

from ds_transcripts.domain.fetching import Fetched, FetchFailed, NoTranscript, Temporary, worst

logger = logging.getLogger("ds.transcripts.fetch")
UPSTREAM = Counter("transcripts_upstream_fetches_total", "Upstream transcript fetches", ["path", "outcome"])


class Source(Protocol):
    def fetch(self, video_id: str, language: str = "en") -> Fetched: ...


class Fetcher:
    def __init__(self, primary: Source, fallback: Source | None, *, threads: int = 2,
                 timeout_s: float = 30.0) -> None:
        self.primary = primary
        self.fallback = fallback
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="transcript-fetch")

    def fetch_sync(self, video_id: str, language: str) -> Fetched:
        failures: list[FetchFailed] = []
        for path, source in (("youtube", self.primary), ("yt_dlp", self.fallback)):
            if source is None:
                continue
            try:
                result = source.fetch(video_id, language)
                UPSTREAM.labels(path, "ok").inc()
                return result
            except FetchFailed as failure:
                UPSTREAM.labels(path, type(failure).__name__).inc()
                logger.info("fetch via %s failed for %s: %s", path, video_id, failure)
                failures.append(failure)
                if isinstance(failure, NoTranscript) and failure.reason in ("video_unavailable", "invalid_video_id"):
                    break  # the video itself is gone: no other path will find captions
        raise worst(*failures)

    async def fetch(self, video_id: str, language: str = "en") -> Fetched:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, self.fetch_sync, video_id, language),
                                          timeout=self.timeout_s)
        except TimeoutError:
            raise Temporary("upstream_timeout", f"no answer in {self.timeout_s:.0f}s") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
