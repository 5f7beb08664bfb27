"""Quota routes, and the access question transcripts asks on a projection miss."""

from __future__ import annotations

from ds_common.auth import CurrentUser, current_principal
from ds_common.errors import BadRequest
from ds_common.ids import IdPath
from ds_common.web import FastQuery, json_response
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ds_progress.api.deps import Context, Ctx, video_ids
from ds_progress.api.schemas import Access, QuotaAnswer, Registered, VideoRef

router = APIRouter()
VIDEO = FastQuery(required=("channelId", "videoId"), missing="Missing channelId or videoId",
                  ids=("channelId", "videoId"))
REGISTERED = {"status": "success", "message": "Video registered and progress initialized"}


@router.get("/user/dictation_quota", response_model=QuotaAnswer, openapi_extra=VIDEO.openapi())
async def dictation_quota(request: Request) -> Response:
    user, ctx, query = await current_principal(request), Context.of(request), VIDEO.read(request)
    return json_response(await ctx.quota.check(user, query["channelId"], query["videoId"]))


@router.post("/user/register_dictation", response_model=Registered)
async def register_dictation(body: VideoRef, request: Request) -> Response:
    # A hot path (repeated on every video opened): principal read directly.
    user, ctx = await current_principal(request), Context.of(request)
    if not body.channelId or not body.videoId:
        raise BadRequest("Missing channelId or videoId")
    await ctx.progress.register(user, *video_ids(body.channelId, body.videoId))
    return json_response(REGISTERED)


@router.get("/internal/access/{channel_id}/{video_id}", response_model=Access)
async def access(channel_id: IdPath, video_id: IdPath, user: CurrentUser, ctx: Ctx) -> Response:
    """May this learner read the video's transcript? (transcripts asks, with the learner's token)."""
    return json_response(await ctx.quota.may_read(user, channel_id, video_id))
