"""Reading and fetching transcripts: the cache, the store, and upstream with single flight.

Document states: `pending` (known video, transcript not fetched yet or to be retried after
`retry_at`), `ready`, `unavailable` (upstream has none: 404 with its reason), `removed`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ds_common.clock import Clock, SystemClock
from ds_common.errors import AppError, NotFound, ServiceUnavailable
from ds_common.events.contracts import TranscriptFailed, TranscriptReady
from ds_common.events.outbox import OutboxNudge
from ds_common.mongo import Document
from ds_common.redis import KeySpace
from redis.asyncio import Redis

from ds_transcripts.adapters.cache import TranscriptCache, render
from ds_transcripts.adapters.fetcher import Fetcher
from ds_transcripts.adapters.singleflight import SingleFlight
from ds_transcripts.adapters.store import TRANSCRIPTS, Change, TranscriptStore
from ds_transcripts.domain.fetching import Blocked, Fetched, FetchFailed

logger = logging.getLogger("ds.transcripts")


class TranscriptUnavailable(AppError):
    status, default_message = 404, "No transcript available for this video"


def blocked_error(retry_after: int) -> ServiceUnavailable:
    retry_after = max(int(retry_after), 1)
    return ServiceUnavailable("YouTube is refusing transcript requests for now; please retry later",
                              headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def ready_event(doc: Document, source: str) -> TranscriptReady:
    return TranscriptReady(channel_id=doc["channel_id"], video_id=doc["video_id"],
                           line_count=len(doc.get("transcript") or []), source=source,
                           is_refined=bool(doc.get("is_refined")), refined_at=doc.get("refined_at"))


class Transcripts:
    def __init__(self, store: TranscriptStore, cache: TranscriptCache, fetcher: Fetcher, flights: SingleFlight,
                 redis: Redis, keys: KeySpace, nudge: OutboxNudge, *, backoff_s: int = 60,
                 backoff_max_s: int = 3_600, clock: Clock | None = None) -> None:
        self.store = store
        self.cache = cache
        self.fetcher = fetcher
        self.flights = flights
        self.redis = redis
        self.keys = keys
        self.nudge = nudge
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
        return self.require_ready(doc, channel_id, video_id)

    @staticmethod
    def require_ready(doc: Document | None, channel_id: str, video_id: str) -> Document:
        if doc is None or doc.get("status") == "removed":
            raise NotFound("Video not found")
        if doc.get("status") == "unavailable":
            failure = doc.get("failure") or {}
            raise TranscriptUnavailable(f"No transcript available for video {video_id}",
                                        reason=failure.get("reason", "unavailable"))
        return doc

    # --- fetching --------------------------------------------------------------------------------
    async def prefetch(self, channel_id: str, video_id: str) -> None:
        """Background fetch for the consumer: same single flight, errors only logged."""
        try:
            await self.ready_doc(channel_id, video_id)
        except AppError as exc:
            logger.info("prefetch of %s:%s ended with %s", channel_id, video_id, exc.message)

    async def _fetch_once(self, channel_id: str, video_id: str) -> Document | None:
        # Re-read under the lock: another process may have fetched it while we waited.
        doc = await self.store.get(channel_id, video_id, light=True)
        if doc is None or doc.get("status") != "pending":
            return await self.store.get(channel_id, video_id)
        now = self.clock.now()
        retry_at = doc.get("retry_at")
        if retry_at is not None and retry_at > now:
            raise blocked_error(int((retry_at - now).total_seconds()) + 1)
        blocked_ttl = await self.redis.ttl(self.keys("youtube-blocked"))
        if blocked_ttl > 0:
            raise blocked_error(blocked_ttl)
        try:
            fetched = await self.fetcher.fetch(video_id, doc.get("language") or "en")
        except FetchFailed as failure:
            return await self._record_failure(channel_id, video_id, failure)
        return await self.store_lines(channel_id, video_id, fetched)

    async def store_lines(self, channel_id: str, video_id: str, fetched: Fetched) -> Document | None:
        def decide(doc: Document | None) -> Change | None:
            if doc is None or doc.get("status") != "pending":
                return None  # removed meanwhile, or an upload arrived first: keep that
            written = {**doc, "transcript": fetched.lines}
            return Change(set={"status": "ready", "source": fetched.source, "transcript": fetched.lines,
                               "source_transcript": fetched.lines, "line_count": len(fetched.lines),
                               "fetched_language": fetched.language},
                          unset=("failure", "retry_at"), events=[ready_event(written, fetched.source)])

        doc = await self.store.mutate(channel_id, video_id, decide)
        await self.after_write(doc)
        return doc

    async def _record_failure(self, channel_id: str, video_id: str, failure: FetchFailed) -> Document | None:
        attempts = 0

        def decide(doc: Document | None) -> Change | None:
            nonlocal attempts
            if doc is None or doc.get("status") != "pending":
                return None
            previous = doc.get("failure") or {}
            attempts = int(previous.get("attempts", 0)) + 1
            info = {"reason": failure.reason, "detail": failure.detail[:300], "attempts": attempts}
            event = TranscriptFailed(channel_id=channel_id, video_id=video_id, reason=failure.reason,
                                     retryable=failure.retryable)
            news = previous.get("reason") != failure.reason  # tell catalog about changes, not every retry
            if not failure.retryable:
                return Change(set={"status": "unavailable", "failure": info}, unset=("retry_at",), events=[event])
            delay = min(self.backoff_s * 2 ** (attempts - 1), self.backoff_max_s)
            return Change(set={"failure": info, "retry_at": self.clock.now() + timedelta(seconds=delay)},
                          events=[event] if news else [])

        doc = await self.store.mutate(channel_id, video_id, decide)
        await self.after_write(doc)
        if failure.retryable:
            delay = min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s)
            if isinstance(failure, Blocked):  # the whole host is refused: every video waits
                await self.redis.set(self.keys("youtube-blocked"), failure.reason, ex=delay)
            raise blocked_error(delay)
        return doc

    async def fetch_adhoc(self, video_id: str) -> list[Any]:
        """POST /service/transcript: fetch live, store nothing; still one upstream call per video."""
        async def work() -> list[Any]:
            blocked_ttl = await self.redis.ttl(self.keys("youtube-blocked"))
            if blocked_ttl > 0:
                raise blocked_error(blocked_ttl)
            try:
                return (await self.fetcher.fetch(video_id, "en")).lines
            except FetchFailed as failure:
                if failure.retryable:
                    raise blocked_error(self.backoff_s) from failure
                raise TranscriptUnavailable(f"No transcript available for video {video_id}",
                                            reason=failure.reason) from failure

        return await self.flights.run(f"adhoc:{video_id}", work)

    async def after_write(self, doc: Document | None) -> None:
        """Wake the relay and refresh the cache after a write."""
        if doc is None:
            return
        await self.nudge.nudge(TRANSCRIPTS, doc["_id"])
        await self.cache.put(doc)
