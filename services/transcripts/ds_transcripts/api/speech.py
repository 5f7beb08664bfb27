"""Admin routes of speech-to-text: ask for a transcript made from a video's audio, follow it, cancel it.

`POST /service/{channel_id}/{video_id}/transcribe`: multipart with an `audio` file (WAV, MP3,
M4A/MP4, WebM, Ogg, FLAC; `DS_TRANSCRIPTS_STT_MAX_UPLOAD_MB`), or no body to fetch the video's
own audio with yt-dlp → 202 and the job. `GET` the same path: the job, with its progress.
`DELETE`: cancel it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ds_common.auth import AdminUser
from ds_common.clock import to_ms
from ds_common.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from ds_common.ids import IdPath
from ds_common.mongo import Document
from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from ds_transcripts.adapters.audio import CHUNK_BYTES, AudioRejected, AudioTooLarge
from ds_transcripts.api.deps import Ctx
from ds_transcripts.api.schemas import SpeechJob

router = APIRouter()
PATH = "/service/{channel_id}/{video_id}/transcribe"
MULTIPART_OVERHEAD = 64 << 10


def _view(doc: Document) -> dict[str, Any]:
    duration = doc.get("duration_s")
    done = float(doc.get("progress_s") or 0.0)
    return {"channel_id": doc["channel_id"], "video_id": doc["video_id"], "job_id": doc["job_id"],
            "status": doc["status"], "model": doc.get("model", ""), "audio": (doc.get("audio") or {}).get("kind", ""),
            "progress_s": done, "duration_s": duration,
            "progress": 1.0 if doc["status"] == "done" else (round(min(done / duration, 1.0), 3) if duration else None),
            "attempts": int(doc.get("attempts", 0)), "reason": doc.get("reason"), "line_count": doc.get("line_count"),
            **{name: to_ms(doc[name]) if doc.get(name) else None
               for name in ("requested_at", "started_at", "finished_at")}}


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK_BYTES):
        yield chunk


@router.post(PATH, response_model=SpeechJob, status_code=202)
async def transcribe(channel_id: IdPath, video_id: IdPath, request: Request, admin: AdminUser,
                     ctx: Ctx) -> dict[str, Any]:
    limit = ctx.speech.max_upload_bytes
    if int(request.headers.get("content-length") or 0) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(f"Audio files are limited to {limit >> 20} MiB")
    upload = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("audio")
        if not isinstance(upload, UploadFile):
            raise BadRequest("Send the audio as a file field named `audio`")
    try:
        job = await ctx.speech.request(channel_id, video_id, upload=_chunks(upload) if upload else None,
                                       requested_by=admin.user_id)
    except AudioRejected as exc:
        raise UnsupportedMediaType(str(exc)) from None
    except AudioTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None
    finally:
        if upload is not None:
            await upload.close()
    return _view(job)


@router.get(PATH, response_model=SpeechJob)
async def job_status(channel_id: IdPath, video_id: IdPath, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    return _view(await ctx.speech.status(channel_id, video_id))


@router.delete(PATH, response_model=SpeechJob)
async def cancel(channel_id: IdPath, video_id: IdPath, _: AdminUser, ctx: Ctx) -> dict[str, Any]:
    return _view(await ctx.speech.cancel(channel_id, video_id))
