"""Learner-facing routes: the transcript itself (access-controlled), filters and the refined flag."""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import AdminUser, CurrentUser, bearer_token
from ds_common.clock import to_ms
from ds_common.errors import BadRequest, NotFound
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ds_transcripts.api.context import Context, check_ids, ctx
from ds_transcripts.api.models import FetchBody
from ds_transcripts.domain.youtube_url import video_id_from_url

router = APIRouter()
Ctx = Annotated[Context, Depends(ctx)]


@router.get("/service/video-transcript/{channel_id}/{video_id}")
async def video_transcript(channel_id: str, video_id: str, request: Request) -> Response:
    # The hot path: no dependency injection, no model serialisation; the body is cached bytes.
    check_ids(channel_id, video_id)
    token = bearer_token(request)
    principal = await request.app.state.verifier.verify(token)
    context: Context = request.app.state.ctx
    await context.access.ensure_allowed(principal, token, channel_id, video_id)
    body = await context.transcripts.serve(channel_id, video_id)
    return Response(body, media_type="application/json")


@router.post("/service/transcript")
async def fetch_transcript(body: FetchBody, _: AdminUser, context: Ctx) -> list[Any]:
    video_id = video_id_from_url(body.url)
    if video_id is None:
        raise BadRequest("Invalid YouTube URL")
    return await context.transcripts.fetch_adhoc(video_id)


@router.get("/service/{channel_id}/transcript-filters")
async def get_filters(channel_id: str, _: CurrentUser, context: Ctx) -> dict[str, Any]:
    check_ids(channel_id)
    return {"channel_id": channel_id, "filters": await context.filters.get(channel_id)}


@router.get("/service/{channel_id}/{video_id}/mark-refined")
async def get_refined(channel_id: str, video_id: str, _: CurrentUser, context: Ctx) -> dict[str, Any]:
    check_ids(channel_id, video_id)
    doc = await context.transcripts.store.get(channel_id, video_id, light=True)
    if doc is None or doc.get("status") == "removed":
        raise NotFound("Video not found")
    refined_at = doc.get("refined_at")
    return {"channel_id": channel_id, "video_id": video_id, "is_refined": bool(doc.get("is_refined")),
            "refined_at": to_ms(refined_at) if refined_at else None}
