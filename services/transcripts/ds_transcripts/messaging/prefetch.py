"""Background prefetch in the consumer process: a bounded queue and a few fetch tasks.

The `video.published` handler only records the video as pending and calls `enqueue`, which never
waits: the Kafka poll loop is never held up by YouTube. A full queue drops the request; the sweep
picks up every pending video whose `retry_at` has passed (also after a restart or a backoff) from
the store's small `fetch_queue`, after a paced start-up check of the store (`reconcile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from ds_transcripts.service.transcripts import Transcripts

logger = logging.getLogger("ds.transcripts.prefetch")


class Prefetcher:
    def __init__(self, transcripts: Transcripts, *, concurrency: int = 2, queue_size: int = 1_000,
                 sweep_interval_s: float = 60.0) -> None:
        self.transcripts = transcripts
        self.concurrency = concurrency
        self.sweep_interval_s = sweep_interval_s
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=queue_size)
        self._queued: set[tuple[str, str]] = set()

    def enqueue(self, channel_id: str, video_id: str) -> None:
        item = (channel_id, video_id)
        if item in self._queued:
            return
        try:
            self.queue.put_nowait(item)
            self._queued.add(item)
        except asyncio.QueueFull:
            logger.warning("prefetch queue full; %s:%s waits for the sweep", channel_id, video_id)

    async def run(self, stop: asyncio.Event) -> None:
        """The worker: `concurrency` fetch loops plus the sweep, until `stop`."""
        loops = [asyncio.create_task(self._fetch_loop(stop)) for _ in range(self.concurrency)]
        loops.append(asyncio.create_task(self._sweep_loop(stop)))
        try:
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _fetch_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            channel_id, video_id = await self.queue.get()
            try:
                await self.transcripts.prefetch(channel_id, video_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("prefetch of %s:%s failed", channel_id, video_id)
            finally:
                self._queued.discard((channel_id, video_id))

    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        started = time.monotonic()
        try:
            live = await self.transcripts.store.reconcile()
            logger.info("start-up check of the transcripts: %d videos in %.1f s", live, time.monotonic() - started)
        except Exception:
            logger.warning("start-up check of the transcripts failed", exc_info=True)
        while not stop.is_set():
            try:
                for doc in await self.transcripts.due_for_fetch():
                    self.enqueue(doc["channel_id"], doc["video_id"])
            except Exception:
                logger.warning("prefetch sweep failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.sweep_interval_s)
