"""POST /service/video-list: the admin's multipart upload of videos with SRT transcripts.

The catalog parses every SRT itself, before any write, so a bad file is a 400 and nothing is
stored. Each accepted video is stored with its `video.published` event in one write; the event
carries the parsed lines (`transcript`) and the original text (`srt_text`) with
`transcript_source="uploaded_srt"`, and the relay is nudged at once. The transcripts service
stores them from the event (no internal call), so catalog never depends on transcripts being up,
and a transcript becomes readable about as fast as the relay and one consumer hop take.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ds_common.auth import AdminUser
from ds_common.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from ds_common.events.contracts import TranscriptLine, VideoPublished
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from ds_catalog.adapters.cache import CHANNELS, POOL, videos_scope
from ds_catalog.adapters.catalog_repo import VIDEOS
from ds_catalog.api.deps import CatalogCtx, Ctx, catalog_event
from ds_catalog.domain import srt
from ds_catalog.domain.values import ID_RE, Text, VideoVisibility, video_key
from ds_catalog.domain.youtube import video_id_from_link

router = APIRouter(tags=["videos"])

MAX_DATA_FIELD_BYTES = 512 * 1024


class UploadItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_id: str = Field(max_length=64)
    video_link: str = Field(max_length=500)
    title: Text | None = None
    visibility: VideoVisibility = "hidden"  # the legacy default when omitted


@dataclass(frozen=True)
class Transcript:
    cues: list[srt.Cue]
    text: str


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
    """Parse every `{videoId}.srt` file; any unreadable one refuses the whole upload."""
    parsed: dict[str, Transcript] = {}
    for upload in files:
        name = upload.filename or ""
        stem = name[:-4] if name.lower().endswith(".srt") else ""
        if not ID_RE.match(stem):
            continue  # legacy: files not named {videoId}.srt are ignored
        if (upload.size or 0) > max_bytes:
            raise PayloadTooLarge(f"SRT file {name} is larger than {max_bytes // 1024} KiB")
        raw = await upload.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise PayloadTooLarge(f"SRT file {name} is larger than {max_bytes // 1024} KiB")
        try:
            text = srt.decode(raw)
            parsed[stem] = Transcript(srt.parse(text), text)
        except srt.SrtError as exc:
            raise BadRequest(f"Invalid SRT file {name}: {exc}") from None
    return parsed


def _items(raw: object, max_items: int) -> list[UploadItem]:
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("Invalid input. Data is required.")
    try:
        items = TypeAdapter(list[UploadItem]).validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": "not JSON"}
        where = ".".join(str(p) for p in detail["loc"])
        raise BadRequest(f"Invalid input. data{'.' + where if where else ''}: {detail['msg']}") from None
    if not items:
        raise BadRequest("Invalid input. Data is required.")
    if len(items) > max_items:
        raise BadRequest(f"Invalid input. At most {max_items} videos per upload.")
    return items


async def _publish(ctx: Ctx, item: UploadItem, channel: dict[str, Any], video_id: str,
                   transcript: Transcript, existing: dict[str, Any] | None) -> str:
    lines = [TranscriptLine(start=c.start, end=c.end, transcript=c.transcript) for c in transcript.cues]
    language = channel.get("language", "en")
    data = VideoPublished(channel_id=item.channel_id, video_id=video_id, title=item.title or "",
                          link=item.video_link, language=language, visibility=item.visibility,
                          transcript_source="uploaded_srt", transcript=lines, srt_text=transcript.text)
    key = video_key(item.channel_id, video_id)
    fields = {"title": item.title, "link": item.video_link, "visibility": item.visibility, "language": language,
              "transcript_source": "uploaded_srt", "transcript_status": "pending",
              "transcript_count": len(lines), "is_refined": False, "refined_at": None,
              "created_at": ctx.clock.now(), "updated_at": None}
    return await ctx.catalog.publish_video(item.channel_id, video_id, fields,
                                           lambda seq: catalog_event(data, key=key, sequence=seq), existing)


@router.post("/service/video-list")
async def upload_videos(request: Request, ctx: CatalogCtx, _: AdminUser) -> dict[str, Any]:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType("Expected multipart/form-data")
    settings = ctx.settings
    await _read_body(request, settings.max_upload_bytes)
    async with request.form(max_files=settings.max_videos_per_upload * 2, max_fields=20,
                            max_part_size=MAX_DATA_FIELD_BYTES) as form:
        items = _items(form.get("data"), settings.max_videos_per_upload)
        files = [f for f in form.getlist("transcript_files") if isinstance(f, UploadFile)]
        transcripts = await _transcripts(files, settings.max_srt_bytes)

    channels = {cid: await ctx.catalog.get_channel(cid) for cid in {i.channel_id for i in items}}
    ids = [(item, video_id_from_link(item.video_link)) for item in items]
    # One query for every video's prior state: FerretDB scans on each lookup that misses.
    stored = await ctx.catalog.video_states([video_key(i.channel_id, v) for i, v in ids if v])
    results: list[dict[str, Any]] = []
    listed: dict[str, list[str]] = {}  # channel -> video ids to (re)list, new or duplicate
    for item, video_id in ids:
        channel = channels.get(item.channel_id)
        existing = stored.get(video_key(item.channel_id, video_id or ""))
        result: dict[str, Any] = {"video_id": video_id, "success": False}
        if channel is None:
            result["message"] = f"Channel {item.channel_id} not found"
        elif video_id is None:
            result["message"] = "Invalid YouTube link: no video id found"
        elif (existing and not existing.get("removed")) or video_id in listed.get(item.channel_id, ()):
            result |= {"message": "Video already exists", "duplicate": True}
            listed.setdefault(item.channel_id, []).append(video_id)  # heals an interrupted upload
        elif video_id not in transcripts:
            result["message"] = f"No SRT transcript file provided for video {video_id}"
        elif not item.title:
            result["message"] = "Title is required"
        elif await _publish(ctx, item, channel, video_id, transcripts[video_id], existing) == "duplicate":
            result |= {"message": "Video already exists", "duplicate": True}
        else:
            listed.setdefault(item.channel_id, []).append(video_id)
            result |= {"success": True, "message": "Video uploaded successfully",
                       "transcript_source": "uploaded_srt", "transcript_count": len(transcripts[video_id].cues)}
        results.append(result)
    for channel_id, video_ids in listed.items():
        await ctx.catalog.add_videos_to_channel(channel_id, video_ids)
    if listed:
        await ctx.nudge.nudge(VIDEOS, *(video_key(c, v) for c, video_ids in listed.items() for v in video_ids))
    if listed:
        await ctx.cache.invalidate(CHANNELS, POOL, *(videos_scope(c) for c in listed))

    results.sort(key=lambda r: r["video_id"] or "")
    duplicates = [r["video_id"] for r in results if r.get("duplicate")]
    errors = sum(1 for r in results if not r["success"] and not r.get("duplicate"))
    response: dict[str, Any] = {
        "message": "success" if not errors and not duplicates else "partially success",
        "results": results, "total_videos": len(items),
        "success_count": sum(1 for r in results if r["success"]), "error_count": errors,
    }
    if duplicates:
        response["duplicate_video_ids"] = duplicates
    return response
