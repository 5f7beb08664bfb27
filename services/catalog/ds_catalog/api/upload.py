"""POST /service/video-list: the admin's multipart upload of videos with SRT transcripts.

The body is read up to its limit (413 past it), the `data` field parsed and every SRT file read
before anything is written, so a bad file is a 400 and nothing is stored; then the use case
stores each acceptable video with its `video.published` event (ds_catalog.service.uploads).
"""

from __future__ import annotations

from typing import Any

from ds_common.auth import AdminUser
from ds_common.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from ds_common.web import parse_json
from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from ds_catalog.api.deps import Ctx
from ds_catalog.api.schemas import UploadItem, UploadResponse, upload_answer
from ds_catalog.domain.uploads import Transcript, read_transcript, srt_video_id

router = APIRouter(tags=["videos"])

MAX_DATA_FIELD_BYTES = 512 * 1024
ITEMS = TypeAdapter(list[UploadItem])
MULTIPART = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["data"],
    "properties": {"data": {"type": "string", "description": "a JSON array of UploadItem"},
                   "transcript_files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                        "description": "one {videoId}.srt per video"}}}}}}}


async def _read_body(request: Request, limit: int) -> None:
    """Read the whole body, refusing it past `limit` bytes before it is parsed (413)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Upload larger than {limit // (1024 * 1024)} MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Upload larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    request._body = b"".join(chunks)  # Starlette's form parser reads the cached body


async def _transcripts(files: list[UploadFile], max_bytes: int) -> dict[str, Transcript]:
    """Read every `{videoId}.srt` file; any unreadable one refuses the whole upload."""
    parsed: dict[str, Transcript] = {}
    for upload in files:
        name = upload.filename or ""
        video_id = srt_video_id(name)
        if video_id is None:
            continue  # legacy: files not named {videoId}.srt are ignored
        if (upload.size or 0) > max_bytes:
            raise PayloadTooLarge(f"SRT file {name} is larger than {max_bytes // 1024} KiB")
        raw = await upload.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise PayloadTooLarge(f"SRT file {name} is larger than {max_bytes // 1024} KiB")
        parsed[video_id] = read_transcript(name, raw)
    return parsed


def _items(raw: object, max_items: int) -> list[UploadItem]:
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("Invalid input. Data is required.")
    try:
        items = ITEMS.validate_python(parse_json(raw))
    except (ValueError, ValidationError) as exc:
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": "not JSON"}
        where = ".".join(str(p) for p in detail["loc"])
        raise BadRequest(f"Invalid input. data{'.' + where if where else ''}: {detail['msg']}") from None
    if not items:
        raise BadRequest("Invalid input. Data is required.")
    if len(items) > max_items:
        raise BadRequest(f"Invalid input. At most {max_items} videos per upload.")
    return items


@router.post("/service/video-list", response_model=UploadResponse, response_model_exclude_unset=True,
             openapi_extra=MULTIPART)
async def upload_videos(request: Request, ctx: Ctx, _: AdminUser) -> dict[str, Any]:
    """A result per video (sorted by video id) and the counts; duplicates are listed apart."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType("Expected multipart/form-data")
    settings = ctx.settings
    await _read_body(request, settings.max_upload_bytes)
    async with request.form(max_files=settings.max_videos_per_upload * 2, max_fields=20,
                            max_part_size=MAX_DATA_FIELD_BYTES) as form:
        items = _items(form.get("data"), settings.max_videos_per_upload)
        files = [f for f in form.getlist("transcript_files") if isinstance(f, UploadFile)]
        transcripts = await _transcripts(files, settings.max_srt_bytes)
    results = await ctx.uploads.upload([i.request() for i in items], transcripts)
    return upload_answer(results, len(items))
