"""Speech-to-text jobs: `stt_jobs`, one versioned document per video (with the outbox that carries
`transcript.stt_requested`), and `stt_queue`, the small collection of the jobs still queued or
running and when each is due (the next try, or the moment its worker's lease lapses), which the
workers' sweep reads instead of the jobs. The queue entry is written after its job; what a crash
in between leaves out is put back by the workers' start-up check (`reconcile`).
"""

from __future__ import annotations

from ds_common.clock import Clock, SystemClock
from ds_common.errors import AppError, Conflict
from ds_common.events.outbox import OutboxNudge, outbox_indexes
from ds_common.mongo import Document, IndexSpec, asc, paced_scan
from ds_common.versioned import Decide, VersionedDocuments, Written
from pymongo.asynchronous.database import AsyncDatabase

from ds_transcripts.domain.speech import ACTIVE

STT_JOBS = "stt_jobs"
STT_QUEUE = "stt_queue"
JOB_INDEXES: list[IndexSpec] = [IndexSpec(STT_QUEUE, asc("due")), *outbox_indexes(STT_JOBS)]


def job_key(channel_id: str, video_id: str) -> str:
    return f"{channel_id}:{video_id}"


def _busy() -> AppError:
    return Conflict("The speech-to-text job is being changed by someone else; please retry")


class JobStore:
    def __init__(self, db: AsyncDatabase[Document], *, nudge: OutboxNudge | None = None,
                 clock: Clock | None = None) -> None:
        self.db = db
        self.documents = VersionedDocuments(db[STT_JOBS], nudge=nudge, clock=clock or SystemClock(), busy=_busy)

    async def get(self, key: str) -> Document | None:
        return await self.documents.get(key)

    async def mutate(self, key: str, decide: Decide) -> Written:
        written = await self.documents.mutate(key, decide)
        if written.changed and written.document is not None:
            await self._follow(written.document)
        return written

    async def _follow(self, doc: Document) -> None:
        if doc.get("status") in ACTIVE:
            due = doc.get("lease_until") if doc["status"] == "running" else doc.get("due")
            await self.db[STT_QUEUE].update_one({"_id": doc["_id"]}, {"$set": {"due": due, "job_id": doc["job_id"]}},
                                                upsert=True)
        else:
            await self.db[STT_QUEUE].delete_one({"_id": doc["_id"]})

    async def due(self, now: object, limit: int = 20) -> list[Document]:
        return await self.db[STT_QUEUE].find({"due": {"$lte": now}}).limit(limit).to_list()

    async def reconcile(self) -> int:
        """Read every job once, paced; put back the queue entries of active jobs. Returns them."""
        active = 0
        projection = {"status": 1, "due": 1, "lease_until": 1, "job_id": 1}
        async for page in paced_scan(self.db[STT_JOBS], projection):
            for doc in page:
                if doc.get("status") in ACTIVE:
                    active += 1
                    await self._follow(doc)
        return active
