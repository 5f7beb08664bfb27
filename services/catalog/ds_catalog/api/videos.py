"""Videos: a channel's cached list, admin edits and deletion with their events, the batch
visibility change, and the random pick."""

from __future__ import annotations

from typing import Any

import orjson
from ds_common.auth import AdminUser, CurrentUser, current_principal
from ds_common.ids import IdPath
from ds_common.mongo import Document
from ds_common.web import FastQuery
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ds_catalog.api.deps import Context, Ctx, cached_json, choice
from ds_catalog.api.schemas import (
    BatchVisibility,
    BatchVisibilityResult,
    Message,
    RandomVideo,
    VideoList,
    VideoUpdate,
    batch_visibility_answer,
    video_item,
)
from ds_catalog.domain.values import LanguageFilter, VisibilityFilter

router = APIRouter(tags=["videos"])

LIST_QUERY = FastQuery(optional=("visibility", "language"))


def render_videos(channel_id: str, docs: list[Document]) -> bytes:
    return orjson.dumps({"channel_id": channel_id, "videos": [video_item(d) for d in docs]})


@router.get("/service/video-list/{channel_id}", response_model=VideoList, openapi_extra=LIST_QUERY.openapi())
async def list_videos(channel_id: str, request: Request) -> Response:
    """`{channel_id, videos}` without transcripts. Learners only see public videos of public channels."""
    # A hot route (every channel page): inputs read directly, see ds_common.web.FastQuery.
    user, ctx = await current_principal(request), Context.of(request)
    found = LIST_QUERY.read(request)
    visibility, language = choice(found, "visibility", VisibilityFilter), choice(found, "language", LanguageFilter)
    return cached_json(await ctx.videos.listing(channel_id, visibility, language, admin=user.is_admin,
                                                render=render_videos))


@router.put("/service/video-list/{channel_id}/{video_id}", response_model=Message)
async def update_video(channel_id: IdPath, video_id: IdPath, body: VideoUpdate, ctx: Ctx,
                       _: AdminUser) -> dict[str, str]:
    await ctx.videos.update(channel_id, video_id, body.model_dump(exclude_none=True))
    return {"message": f"Video {video_id} updated successfully"}


@router.delete("/service/video-list/{channel_id}/{video_id}", response_model=Message)
async def delete_video(channel_id: IdPath, video_id: IdPath, ctx: Ctx, _: AdminUser) -> dict[str, str]:
    """Tombstone the video with `video.removed`; progress and transcripts clean up from the event."""
    await ctx.videos.remove(channel_id, video_id)
    return {"message": f"Video {video_id} deleted successfully from channel {channel_id}"}


@router.put("/service/{channel_id}/batch-visibility-update", response_model=BatchVisibilityResult)
async def batch_visibility(channel_id: IdPath, body: BatchVisibility, ctx: Ctx, _: AdminUser) -> dict[str, Any]:
    results = await ctx.videos.set_visibility(channel_id, body.visibility)
    return batch_visibility_answer(channel_id, body.visibility, results)


@router.get("/service/random-video", response_model=RandomVideo)
async def random_video(ctx: Ctx, _: CurrentUser) -> dict[str, Any]:
    """A public video of a public channel, uniformly over all of them."""
    video, total = await ctx.videos.random_pick()
    return {"video": video, "total_available_videos": total}
