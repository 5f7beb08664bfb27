"""Reading and fetching transcripts: the cache, the store, and upstream with single flight.

A reader is served from the cache (ready-to-send bytes), else from the store; a video still
`pending` is fetched upstream first, by one caller across all processes (SingleFlight). Upstream
refusing us (blocked) backs the video off, and the whole host while it is a block.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ds_common.clock import Clock, SystemClock
from ds_common.errors import AppError, DomainError, ServiceUnavailable
from ds_common.mongo import Document

from ds_transcripts.adapters.blocked import UpstreamBlock
from ds_transcripts.adapters.cache import TranscriptCache, render
from ds_transcripts.adapters.fetcher import Fetcher
from ds_transcripts.adapters.singleflight import SingleFlight
from ds_transcripts.adapters.store import TranscriptStore
from ds_transcripts.domain import transcript
from ds_transcripts.domain.fetching import Blocked, Fetched, FetchFailed
from ds_transcripts.domain.transcript import TranscriptUnavailable, VideoNotFound, require_ready

logger = logging.getLogger("ds.transcripts")
NoCaptions = Callable[[str, str], Awaitable[None]]  # (channel_id, video_id): upstream has none


def blocked_error(retry_after: int) -> ServiceUnavailable:
    retry_after = max(int(retry_after), 1)
    return ServiceUnavailable("YouTube is refusing transcript requests for now; please retry later",
                              headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


class Transcripts:
    def __init__(self, store: TranscriptStore, cache: TranscriptCache, fetcher: Fetcher, flights: SingleFlight,
                 blocked: UpstreamBlock, *, backoff_s: int = 60, backoff_max_s: int = 3_600,
                 clock: Clock | None = None, on_no_captions: NoCaptions | None = None) -> None:
        self.store = store
        self.on_no_captions = on_no_captions
        self.cache = cache
        self.fetcher = fetcher
        self.flights = flights
        self.blocked = blocked
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock or SystemClock()

    # --- reading ---------------------------------------------------------------------------------
    async def serve(self, channel_id: str, video_id: str) -> bytes:
        """The GET video-transcript response body."""
        cached = await self.cache.get(channel_id, video_id)
        if cached is not None:
            return cached
        doc = await self.ready_doc(channel_id, video_id)
        await self.cache.put(doc)
        return render(doc)

    async def ready_doc(self, channel_id: str, video_id: str) -> Document:
        """The document with its transcript, fetching it upstream first if it is still pending."""
        doc = await self.store.get(channel_id, video_id)
        if doc is not None and doc.get("status") == "pending":
            doc = await self.flights.run(f"{channel_id}:{video_id}", lambda: self._fetch_once(channel_id, video_id))
        return require_ready(doc, video_id)

    async def refined_state(self, channel_id: str, video_id: str) -> Document:
        """The video's document without its transcripts (its refined flag)."""
        doc = await self.store.get(channel_id, video_id, light=True)
        if doc is None or doc.get("status") == "removed":
            raise VideoNotFound("Video not found")
        return doc

    async def summaries(self, channel_id: str) -> list[Document]:
        """The channel's videos (not removed), without their transcripts, by video id."""
        return await self.store.channel_summaries(channel_id)

    # --- fetching --------------------------------------------------------------------------------
    async def prefetch(self, channel_id: str, video_id: str) -> None:
        """Background fetch for the consumer: same single flight, refusals only logged."""
        try:
            await self.ready_doc(channel_id, video_id)
        except (AppError, DomainError) as exc:
            logger.info("prefetch of %s:%s ended with %s", channel_id, video_id, exc.message)

    async def due_for_fetch(self) -> list[Document]:
        """Pending videos whose `retry_at` has passed (the consumer's sweep)."""
        return await self.store.due_for_fetch(self.clock.now())

    async def _fetch_once(self, channel_id: str, video_id: str) -> Document | None:
        # Re-read under the lock: another process may have fetched it while we waited.
        doc = await self.store.get(channel_id, video_id, light=True)
        if doc is None or doc.get("status") != "pending":
            return await self.store.get(channel_id, video_id)
        now = self.clock.now()
        retry_at = doc.get("retry_at")
        if retry_at is not None and retry_at > now:
            raise blocked_error(int((retry_at - now).total_seconds()) + 1)
        if blocked_s := await self.blocked.remaining_s():
            raise blocked_error(blocked_s)
        try:
            fetched = await self.fetcher.fetch(video_id, doc.get("language") or "en")
        except FetchFailed as failure:
            return await self._record_failure(channel_id, video_id, failure)
        return await self.store_lines(channel_id, video_id, fetched)

    async def store_lines(self, channel_id: str, video_id: str, fetched: Fetched) -> Document | None:
        written = await self.store.mutate(channel_id, video_id, lambda doc: transcript.fetched(doc, fetched))
        await self.after_write(written.document)
        return written.document

    async def _record_failure(self, channel_id: str, video_id: str, failure: FetchFailed) -> Document | None:
        now = self.clock.now()
        written = await self.store.mutate(channel_id, video_id, lambda doc: transcript.failed(
            doc, failure, now, base_s=self.backoff_s, max_s=self.backoff_max_s))
        await self.after_write(written.document)
        if failure.retryable:
            attempts = int(((written.document or {}).get("failure") or {}).get("attempts", 0)) if written.changed else 0
            delay = transcript.backoff_s(attempts, self.backoff_s, self.backoff_max_s)
            if isinstance(failure, Blocked):  # the whole host is refused: every video waits
                await self.blocked.block(failure.reason, delay)
            raise blocked_error(delay)
        if written.changed and self.on_no_captions is not None:
            await self.on_no_captions(channel_id, video_id)
        return written.document

    async def fetch_adhoc(self, video_id: str) -> list[Any]:
        """POST /service/transcript: fetch live, store nothing; still one upstream call per video."""
        async def work() -> list[Any]:
            if blocked_s := await self.blocked.remaining_s():
                raise blocked_error(blocked_s)
            try:
                return (await self.fetcher.fetch(video_id, "en")).lines
            except FetchFailed as failure:
                if failure.retryable:
                    raise blocked_error(self.backoff_s) from failure
                raise TranscriptUnavailable(f"No transcript available for video {video_id}",
                                            reason=failure.reason) from failure

        return await self.flights.run(f"adhoc:{video_id}", work)

    async def after_write(self, doc: Document | None) -> None:
        """Refresh the cache after a write (the store has nudged the relay if there were events)."""
        if doc is not None:
            await self.cache.put(doc)
