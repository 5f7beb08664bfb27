"""Speech-to-text requests, as the admin routes see them: ask, read the status, cancel.

The work itself is done by the `stt` worker role (messaging/speech_worker.py), woken by the
`transcript.stt_requested` event each request writes with its job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ds_common.clock import Clock, SystemClock
from ds_common.errors import AppError, DomainError
from ds_common.mongo import Document
from ds_common.tracing import current_traceparent

from ds_transcripts.adapters.audio import AudioStore
from ds_transcripts.adapters.jobs import JobStore, job_key
from ds_transcripts.adapters.store import TranscriptStore
from ds_transcripts.domain import speech
from ds_transcripts.domain.transcript import VideoNotFound

logger = logging.getLogger("ds.transcripts.stt")


class NoAudioSource(DomainError):
    """No upload and no link to fetch the audio from: 400."""


class SpeechJobs:
    def __init__(self, jobs: JobStore, audio: AudioStore, transcripts: TranscriptStore, *, model: str,
                 max_upload_bytes: int, clock: Clock | None = None) -> None:
        self.jobs = jobs
        self.audio = audio
        self.transcripts = transcripts
        self.model = model
        self.max_upload_bytes = max_upload_bytes
        self.clock = clock or SystemClock()

    async def request(self, channel_id: str, video_id: str, *, upload: AsyncIterator[bytes] | None,
                      requested_by: str) -> Document:
        """A new job: from the uploaded audio if any, else from the video's link (yt-dlp)."""
        video = await self.transcripts.get(channel_id, video_id, light=True)
        if video is None or video.get("status") == "removed":
            raise VideoNotFound("Video not found")
        key = job_key(channel_id, video_id)
        current = await self.jobs.get(key)
        if current is not None and current.get("status") in speech.ACTIVE:  # before storing any upload
            raise speech.JobActive(f"Video {video_id} is being transcribed already", job_status=current["status"])
        job_id = uuid.uuid4().hex
        if upload is not None:
            audio: dict[str, Any] = await self.audio.put(job_id, upload, max_bytes=self.max_upload_bytes)
        elif video.get("link"):
            audio = {"kind": "youtube", "link": video["link"]}
        else:
            raise NoAudioSource("Upload an audio file: this video has no link to fetch its audio from")
        now = self.clock.now()
        try:
            written = await self.jobs.mutate(key, lambda doc: speech.requested(
                doc, channel_id=channel_id, video_id=video_id, job_id=job_id, audio=audio, model=self.model,
                requested_by=requested_by, now=now, traceparent=current_traceparent()))
        except BaseException:
            await self.audio.discard(job_id, audio)
            raise
        assert written.document is not None
        return written.document

    async def when_no_captions(self, channel_id: str, video_id: str) -> None:
        """A fetch found no captions (DS_TRANSCRIPTS_STT_ON_MISSING_CAPTIONS): transcribe the
        video's own audio. Never raises: the fetch's outcome stands either way."""
        try:
            job = await self.request(channel_id, video_id, upload=None, requested_by="no-captions")
            logger.info("no captions for %s:%s: speech-to-text job %s", channel_id, video_id, job["job_id"])
        except (DomainError, AppError) as refused:
            logger.info("no captions for %s:%s, and no speech-to-text job: %s", channel_id, video_id, refused)

    async def status(self, channel_id: str, video_id: str) -> Document:
        doc = await self.jobs.get(job_key(channel_id, video_id))
        if doc is None:
            raise speech.JobNotFound(f"No speech-to-text job for video {video_id}")
        return doc

    async def cancel(self, channel_id: str, video_id: str) -> Document:
        """Stops a queued job at once and a running one within a lease renewal (its worker reads
        the cancellation when it next reports progress)."""
        now = self.clock.now()
        written = await self.jobs.mutate(job_key(channel_id, video_id),
                                         lambda doc: speech.cancelled(doc, video_id=video_id, now=now))
        assert written.document is not None
        await self.audio.discard(written.document["job_id"], written.document.get("audio") or {})
        return written.document
