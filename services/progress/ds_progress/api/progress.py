"""Progress routes: autosave, restore, per-channel and per-learner views. Hot routes read their
inputs directly and answer bytes (ds_common.web.FastQuery)."""

from __future__ import annotations

from ds_common.auth import CurrentUser, current_principal
from ds_common.errors import BadRequest
from ds_common.ids import IdPath
from ds_common.web import FastQuery, json_body, json_body_schema, json_response
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ds_progress.api.deps import Context, Ctx, video_ids
from ds_progress.api.schemas import AllProgress, ChannelBadges, ChannelStarted, ProgressState, Saved, SaveProgress

router = APIRouter()
VIDEO = FastQuery(required=("channelId", "videoId"), missing="channelId and videoId are required",
                  ids=("channelId", "videoId"))
CHANNEL = FastQuery(required=("channelId",), missing="channelId is required", ids=("channelId",))
LEARNER = FastQuery(optional=("userEmail",))


@router.post("/user/progress", response_model=Saved, openapi_extra=json_body_schema(SaveProgress))
async def save_progress(request: Request) -> Response:
    # The hottest path (autosave): principal and body read directly, see ds_common.web.json_body.
    user, ctx = await current_principal(request), Context.of(request)
    body = await json_body(request, SaveProgress)
    channel_id, video_id = video_ids(body.channelId, body.videoId)
    hints = {k: v for k, v in (("channel_name", body.channelName), ("video_title", body.videoTitle),
                                ("video_link", body.videoLink)) if v is not None}
    return json_response(await ctx.progress.save(user, channel_id, video_id, body.userInput, int(body.currentTime),
                                                 float(body.overallCompletion), float(body.duration), hints))


@router.get("/user/progress", response_model=ProgressState, openapi_extra=VIDEO.openapi())
async def get_progress(request: Request) -> Response:
    user, ctx, query = await current_principal(request), Context.of(request), VIDEO.read(request)
    return json_response(await ctx.progress.restore(user, query["channelId"], query["videoId"]))


@router.get("/user/progress/channel", response_model=ChannelBadges, openapi_extra=CHANNEL.openapi())
async def channel_progress(request: Request) -> Response:
    user, ctx, query = await current_principal(request), Context.of(request), CHANNEL.read(request)
    return json_response(await ctx.progress.channel_badges(user, query["channelId"]))


@router.get("/user/progress/{channel_id}", response_model=ChannelStarted)
async def channel_progress_list(channel_id: IdPath, user: CurrentUser, ctx: Ctx) -> Response:
    return json_response(await ctx.progress.channel_started(user, channel_id))


@router.get("/user/all-progress", response_model=AllProgress, openapi_extra=LEARNER.openapi())
async def all_progress(request: Request) -> Response:
    user, ctx, query = await current_principal(request), Context.of(request), LEARNER.read(request)
    email = query.get("userEmail")
    if email is not None and len(email) > 320:
        raise BadRequest("Invalid userEmail")
    return json_response(await ctx.progress.everything(user, email))
