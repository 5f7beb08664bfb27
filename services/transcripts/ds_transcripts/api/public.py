"""Learner-facing routes: the transcript itself (access-controlled), filters and the refined flag."""

from __future__ import annotations

from typing import Any

from ds_common.auth import AdminUser, CurrentUser, current_principal
from ds_common.clock import to_ms
from ds_common.errors import BadRequest
from ds_common.ids import IdPath, is_youtube_id
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ds_transcripts.api.deps import Context, Ctx
from ds_transcripts.api.schemas import ChannelFilters, FetchBody, LineOut, RefinedState, VideoTranscriptOut
from ds_transcripts.domain.youtube_url import video_id_from_url

router = APIRouter()


@router.get("/service/video-transcript/{channel_id}/{video_id}", response_model=VideoTranscriptOut)
async def video_transcript(channel_id: str, video_id: str, request: Request) -> Response:
    # The hot path: no dependency injection, no model serialisation; the body is cached bytes.
    if not (is_youtube_id(channel_id) and is_youtube_id(video_id)):
        raise BadRequest("Invalid channel or video id")
    principal = await current_principal(request)
    ctx = Context.of(request)
    await ctx.access.ensure_allowed(principal, channel_id, video_id)
    body = await ctx.transcripts.serve(channel_id, video_id)
    return Response(body, media_type="application/json")


@router.post("/service/transcript", response_model=list[LineOut])
async def fetch_transcript(body: FetchBody, _: AdminUser, ctx: Ctx) -> list[Any]:
    video_id = video_id_from_url(body.url)
    if video_id is None:
        raise BadRequest("Invalid YouTube URL")
    return await ctx.transcripts.fetch_adhoc(video_id)


@router.get("/service/{channel_id}/transcript-filters", response_model=ChannelFilters)
async def get_filters(channel_id: IdPath, _: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    return {"channel_id": channel_id, "filters": await ctx.editor.saved_filters(channel_id)}


@router.get("/service/{channel_id}/{video_id}/mark-refined", response_model=RefinedState)
async def get_refined(channel_id: IdPath, video_id: IdPath, user: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    await ctx.access.ensure_shown(user, channel_id, video_id)
    doc = await ctx.transcripts.refined_state(channel_id, video_id)
    refined_at = doc.get("refined_at")
    return {"channel_id": channel_id, "video_id": video_id, "is_refined": bool(doc.get("is_refined")),
            "refined_at": to_ms(refined_at) if refined_at else None}
