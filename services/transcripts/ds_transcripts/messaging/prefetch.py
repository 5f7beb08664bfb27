"""Background prefetch in the consumer process: YouTube fetches on a bounded work queue.

The `video.published` handler only records the video as pending and calls `enqueue`, which never
waits: the Kafka poll loop is never held up by YouTube. A full queue drops the request; the sweep
picks up every pending video whose `retry_at` has passed (also after a restart or a backoff) from
the store's small `fetch_queue`, after a paced start-up check of the store (`reconcile`).
"""

from __future__ import annotations

import asyncio

from ds_transcripts.messaging.work_queue import WorkQueue
from ds_transcripts.service.transcripts import Transcripts

Video = tuple[str, str]  # (channel_id, video_id)


class Prefetcher:
    def __init__(self, transcripts: Transcripts, *, concurrency: int = 2, queue_size: int = 1_000,
                 sweep_interval_s: float = 60.0) -> None:
        self.transcripts = transcripts
        self.work: WorkQueue[Video] = WorkQueue("prefetch", self._fetch, self._due,
                                                reconcile=transcripts.store.reconcile, concurrency=concurrency,
                                                queue_size=queue_size, sweep_interval_s=sweep_interval_s)
        self.queue = self.work.queue

    def enqueue(self, channel_id: str, video_id: str) -> None:
        self.work.enqueue((channel_id, video_id))

    async def run(self, stop: asyncio.Event) -> None:
        await self.work.run(stop)

    async def _fetch(self, video: Video) -> None:
        await self.transcripts.prefetch(*video)

    async def _due(self) -> list[Video]:
        return [(doc["channel_id"], doc["video_id"]) for doc in await self.transcripts.due_for_fetch()]
