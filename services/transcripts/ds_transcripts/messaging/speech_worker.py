"""The `stt` worker role: speech-to-text jobs, `concurrency` at a time per process.

The `transcript.stt_requested` handler only queues the job's id in memory (the Kafka poll loop is
never held up by a transcription, which takes minutes). A job is claimed in the store before any
work (one worker wins however many run), runs under a lease renewed with its progress every
`lease_s / 3`, and ends `done` (its lines become the video's transcript: `transcript.ready`),
`failed` (`transcript.failed` when the video has no transcript), or back in the queue after a
retryable failure. The sweep reads `stt_queue` for jobs that are due: retries after their backoff,
and jobs whose worker died (their lease lapsed), so a job survives any worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ds_common.clock import Clock, SystemClock
from ds_common.events.contracts import SpeechToTextRequested
from ds_common.events.envelope import Envelope
from ds_common.mongo import Document
from ds_common.tracing import context_of, span_in
from opentelemetry.trace import SpanKind

from ds_transcripts.adapters.audio import AudioNotFetched, AudioStore, download_audio
from ds_transcripts.adapters.jobs import JobStore, job_key
from ds_transcripts.adapters.whisper import AudioUnreadable, Recognised, Stopped, WhisperTranscriber
from ds_transcripts.domain import speech, transcript
from ds_transcripts.messaging.work_queue import WorkQueue
from ds_transcripts.service.transcripts import Transcripts

logger = logging.getLogger("ds.transcripts.stt")
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    concurrency: int = 1
    lease_s: float = 30.0
    max_attempts: int = 3
    retry_backoff_s: float = 30.0
    timeout_base_s: float = 60.0  # decoding and loading, whatever the length
    timeout_s_per_audio_minute: float = 30.0
    sweep_interval_s: float = 15.0
    download_timeout_s: float = 60.0
    language: str | None = "en"


class JobFailed(Exception):
    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class LeaseLost(Exception):
    """The job was cancelled, or claimed by another worker after this one's lease lapsed."""


class SpeechWorker:
    def __init__(self, jobs: JobStore, audio: AudioStore, transcripts: Transcripts, transcriber: WhisperTranscriber,
                 *, model: str, limits: Limits, clock: Clock | None = None, proxy_url: str | None = None,
                 cookie_file: str | None = None) -> None:
        self.jobs = jobs
        self.audio = audio
        self.transcripts = transcripts
        self.transcriber = transcriber
        self.model = model
        self.limits = limits
        self.clock = clock or SystemClock()
        self.proxy_url = proxy_url
        self.cookie_file = cookie_file
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.work: WorkQueue[tuple[str, str]] = WorkQueue(
            "speech-to-text", self._process, self._due, reconcile=jobs.reconcile, concurrency=limits.concurrency,
            sweep_interval_s=limits.sweep_interval_s)

    # --- intake -----------------------------------------------------------------------------------
    async def on_requested(self, data: SpeechToTextRequested, _: Envelope) -> None:
        self.work.enqueue((job_key(data.channel_id, data.video_id), data.job_id))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(lambda: self.transcriber.model)  # load once, before the first job
        await self.work.run(stop)

    async def _due(self) -> list[tuple[str, str]]:
        return [(entry["_id"], entry["job_id"]) for entry in await self.jobs.due(self.clock.now())]

    async def _process(self, job: tuple[str, str]) -> None:
        await self.process(*job)

    # --- one job ----------------------------------------------------------------------------------
    async def process(self, key: str, job_id: str) -> None:
        now = self.clock.now()
        claim = await self.jobs.mutate(key, lambda doc: speech.claimed(
            doc, job_id=job_id, worker=self.worker_id, now=now, lease_s=self.limits.lease_s,
            max_attempts=self.limits.max_attempts))
        job = claim.document
        if not claim.changed or job is None:
            return  # not due, finished, or someone else's
        if job["status"] == "failed":  # every earlier claim died with its worker
            await self._ended(job)
            return
        # The attempt continues the request's trace (minutes later, perhaps on another host).
        with span_in("transcript.stt job", context_of(job.get("traceparent")), kind=SpanKind.INTERNAL,
                     attributes={"ds.job_id": job_id, "ds.attempt": job["attempts"], "ds.video": key}):
            await self._attempt(key, job)

    async def _attempt(self, key: str, job: Document) -> None:
        job_id = job["job_id"]
        logger.info("speech-to-text job %s (%s) attempt %d", job_id, key, job["attempts"])
        try:
            await self._transcribe_into_transcript(job)
        except JobFailed as failure:
            logger.warning("speech-to-text job %s failed: %s", job_id, failure.reason)
            await self._failed(key, job_id, failure)
        except LeaseLost:
            logger.info("speech-to-text job %s stopped: cancelled or taken over", job_id)

    async def _failed(self, key: str, job_id: str, failure: JobFailed) -> None:
        written = await self.jobs.mutate(key, lambda doc: speech.failed(
            doc, job_id=job_id, worker=self.worker_id, now=self.clock.now(), reason=failure.reason,
            retryable=failure.retryable, max_attempts=self.limits.max_attempts, backoff_s=self.limits.retry_backoff_s))
        if written.changed and written.document is not None:
            await self._ended(written.document)

    async def _transcribe_into_transcript(self, job: Document) -> None:
        channel_id, video_id, job_id = job["channel_id"], job["video_id"], job["job_id"]
        video = await self.transcripts.store.get(channel_id, video_id, light=True)
        duration: float | None = None
        if video is not None and video.get("stt_job") == job_id:
            line_count = int(video.get("line_count", 0))  # written by an attempt that died just after
        else:
            with tempfile.TemporaryDirectory(prefix="ds-stt-") as tmp:
                # An English-only model (the default) is told "en"; with DS_TRANSCRIPTS_STT_LANGUAGE
                # empty, the video's language from the catalog (else Whisper detects it).
                language = self.limits.language or (video or {}).get("language") or None
                recognised = await self._recognise(job, await self._audio_file(job, Path(tmp)), language)
            lines = speech.sentences(recognised.words)
            if not lines:
                raise JobFailed("no_speech", retryable=False)
            written = await self.transcripts.store.mutate(
                channel_id, video_id, lambda doc: transcript.transcribed(doc, lines, self.model, job_id))
            await self.transcripts.after_write(written.document)
            if written.document is None or written.document.get("status") == "removed":
                raise JobFailed("video_removed", retryable=False)
            line_count, duration = len(lines), recognised.duration_s
        done = await self.jobs.mutate(job["_id"], lambda doc: speech.finished(
            doc, job_id=job_id, worker=self.worker_id, now=self.clock.now(), line_count=line_count,
            duration_s=duration))
        if done.changed and done.document is not None:
            await self._ended(done.document)
            logger.info("speech-to-text job %s done: %d lines", job_id, line_count)

    async def _audio_file(self, job: Document, into: Path) -> Path:
        audio = job.get("audio") or {}
        if audio.get("kind") == "upload":
            path = into / f"upload.{audio.get('type', 'bin')}"
            await self.audio.write_to(job["job_id"], int(audio["chunks"]), path)
            return path
        try:  # yt-dlp's socket timeout bounds a stalled download; the lease is held meanwhile
            return await self._held(job, asyncio.to_thread(
                download_audio, audio["link"], into, timeout_s=self.limits.download_timeout_s,
                proxy_url=self.proxy_url, cookie_file=self.cookie_file))
        except AudioNotFetched as exc:
            raise JobFailed(f"audio_not_fetched: {exc}", retryable=True) from exc

    async def _recognise(self, job: Document, path: Path, language: str | None) -> Recognised:
        """Transcribe in a thread; renew the lease with the progress meanwhile, and stop the thread
        when the job times out or is no longer ours."""
        stop = threading.Event()
        progress: list[float | None] = [0.0, None]  # seconds done, seconds in all (written by the thread)

        def on_progress(done: float, total: float | None) -> None:
            progress[:] = [done, total]

        def budget_s() -> float:  # from the announced length, if the file has one
            minutes = max(progress[1] or 0.0, progress[0] or 0.0) / 60
            return self.limits.timeout_base_s + self.limits.timeout_s_per_audio_minute * minutes

        work = asyncio.ensure_future(asyncio.to_thread(
            self.transcriber.transcribe, path, language=language, on_progress=on_progress, stop=stop))
        try:
            return await self._held(job, work, progress=progress, budget_s=budget_s)
        except AudioUnreadable as exc:
            raise JobFailed(f"audio_unreadable: {exc}", retryable=False) from exc
        finally:
            stop.set()  # a no-op once the thread is done; otherwise it stops at its next segment
            with contextlib.suppress(Stopped, AudioUnreadable):
                await asyncio.shield(work)  # at once if done; else until the thread has stopped

    async def _held(self, job: Document, work: Awaitable[T], *, progress: Sequence[float | None] = (0.0, None),
                    budget_s: Callable[[], float] | None = None) -> T:
        """`work`'s result, the job's lease renewed with `progress` (seconds done, in all) every
        `lease_s / 3` meanwhile. Raises JobFailed("timeout") past `budget_s()` seconds, and
        LeaseLost when the job is no longer this worker's (cancelled, or taken over)."""
        task = asyncio.ensure_future(work)
        started = time.monotonic()
        while True:
            finished, _ = await asyncio.wait({task}, timeout=self.limits.lease_s / 3)
            if task in finished:
                return task.result()
            if budget_s is not None and time.monotonic() - started > budget_s():
                raise JobFailed("timeout", retryable=True)
            renewed = await self.jobs.mutate(job["_id"], lambda doc: speech.renewed(
                doc, job_id=job["job_id"], worker=self.worker_id, now=self.clock.now(), lease_s=self.limits.lease_s,
                progress_s=progress[0] or 0.0, duration_s=progress[1]))
            if not renewed.changed:
                raise LeaseLost

    async def _ended(self, job: Document) -> None:
        """After a final state: the upload is dropped; a video left without a transcript hears why."""
        if job.get("status") == "queued":
            return  # a retry: keep the audio
        await self.audio.discard(job["job_id"], job.get("audio") or {})
        if job.get("status") == "failed":
            reason = str(job.get("reason", "failed"))
            written = await self.transcripts.store.mutate(
                job["channel_id"], job["video_id"], lambda doc: transcript.transcription_failed(doc, reason))
            await self.transcripts.after_write(written.document)
