"""Videos (legacy §4.2, §4.3 batch visibility): cached lists, admin edits with their events, random pick."""

from __future__ import annotations

import random
from typing import Any

from ds_common.auth import AdminUser, CurrentUser, current_principal
from ds_common.errors import BadRequest, NotFound
from ds_common.events.contracts import VideoRemoved, VideoUpdated
from ds_common.events.envelope import Envelope
from ds_common.mongo import Document
from ds_common.web import query_parameters
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from ds_catalog.adapters.cache import CHANNELS, POOL, videos_scope
from ds_catalog.adapters.catalog_repo import VIDEOS
from ds_catalog.api.deps import CatalogCtx, Ctx, catalog_event, context_of, json_bytes, json_response, query_choice
from ds_catalog.api.views import video_item
from ds_catalog.domain.values import ID_RE, LanguageFilter, NonEmptyText, VideoVisibility, VisibilityFilter, video_key
from ds_catalog.domain.youtube import video_id_from_link

router = APIRouter(tags=["videos"])


class VideoUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: NonEmptyText | None = None
    visibility: VideoVisibility | None = None
    link: NonEmptyText | None = None


class BatchVisibility(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visibility: VideoVisibility


@router.get("/service/video-list/{channel_id}", openapi_extra=query_parameters("visibility", "language"))
async def list_videos(channel_id: str, request: Request) -> Response:
    """`{channel_id, videos}` without transcripts. Learners only see public videos of public channels."""
    # A hot path (every channel page): inputs read directly, see ds_common.web.query_parameters.
    user, ctx = await current_principal(request), context_of(request)
    visibility = query_choice(request, "visibility", VisibilityFilter)
    language = query_choice(request, "language", LanguageFilter)
    if not ID_RE.match(channel_id):  # never a cache key for a malformed id
        raise NotFound("Channel not found")
    viewer = "admin" if user.is_admin else "learner"
    if not user.is_admin:
        if visibility not in ("all", "public"):
            return json_response(json_bytes({"channel_id": channel_id, "videos": []}))
        visibility = "public"

    async def build() -> bytes | None:
        channel = await ctx.catalog.get_channel(channel_id)
        if channel is None or (viewer == "learner" and channel.get("visibility") != "public"):
            return None
        if language not in ("all", channel.get("language", "en")):
            return json_bytes({"channel_id": channel_id, "videos": []})
        ids = list(channel.get("videos") or [])[: ctx.settings.max_videos_per_channel]
        docs = await ctx.catalog.videos_of(channel_id, ids)
        items = [video_item(d) for d in docs if visibility == "all" or d.get("visibility") == visibility]
        return json_bytes({"channel_id": channel_id, "videos": items})

    body = await ctx.cache.get_or_build(videos_scope(channel_id), f"{viewer}|{visibility}|{language}", build)
    if body is None:
        raise NotFound("Channel not found")
    return json_response(body)


def _updated_event(doc: Document, sequence: int) -> Envelope:
    data = VideoUpdated(channel_id=doc["channel_id"], video_id=doc["video_id"], title=doc.get("title", ""),
                        link=doc.get("link", ""), language=doc.get("language", "en"),
                        visibility=doc.get("visibility", "hidden"))
    return catalog_event(data, key=doc["_id"], sequence=sequence)


async def _change(ctx: Ctx, channel_id: str, video_id: str, fields: dict[str, Any]) -> bool:
    """Apply admin `fields` to one video together with its `video.updated` event."""
    return await ctx.catalog.change_video(channel_id, video_id, fields, _updated_event) is not None


@router.put("/service/video-list/{channel_id}/{video_id}")
async def update_video(channel_id: str, video_id: str, body: VideoUpdate, ctx: CatalogCtx,
                       _: AdminUser) -> dict[str, str]:
    fields: dict[str, Any] = body.model_dump(exclude_none=True)
    if not fields:
        raise BadRequest("No update data provided")
    if "link" in fields and video_id_from_link(fields["link"]) != video_id:
        raise BadRequest("The link must point to the same YouTube video")
    if not await _change(ctx, channel_id, video_id, {**fields, "updated_at": ctx.clock.now()}):
        raise NotFound("Video not found")
    await ctx.nudge.nudge(VIDEOS, video_key(channel_id, video_id))
    await ctx.cache.invalidate(videos_scope(channel_id), POOL)
    return {"message": f"Video {video_id} updated successfully"}


@router.delete("/service/video-list/{channel_id}/{video_id}")
async def delete_video(channel_id: str, video_id: str, ctx: CatalogCtx, _: AdminUser) -> dict[str, str]:
    """Tombstone the video with `video.removed`; progress and transcripts clean up from the event
    (legacy scanned every user here, W17)."""
    data = VideoRemoved(channel_id=channel_id, video_id=video_id)
    key = video_key(channel_id, video_id)
    removed = await ctx.catalog.remove_video(channel_id, video_id, ctx.clock.now(),
                                             lambda seq: catalog_event(data, key=key, sequence=seq))
    if not removed:
        raise NotFound("Video not found")
    await ctx.nudge.nudge(VIDEOS, key)
    await ctx.catalog.remove_video_from_channel(channel_id, video_id)
    await ctx.cache.invalidate(CHANNELS, POOL, videos_scope(channel_id))
    return {"message": f"Video {video_id} deleted successfully from channel {channel_id}"}


@router.put("/service/{channel_id}/batch-visibility-update")
async def batch_visibility(channel_id: str, body: BatchVisibility, ctx: CatalogCtx,
                           _: AdminUser) -> dict[str, Any]:
    channel = await ctx.catalog.get_channel(channel_id)
    video_ids = list(channel.get("videos") or []) if channel else []
    if not video_ids:
        raise NotFound(f"No videos found in channel {channel_id}")
    now = ctx.clock.now()
    results = []
    for video_id in video_ids[: ctx.settings.max_videos_per_channel]:
        ok = await _change(ctx, channel_id, video_id, {"visibility": body.visibility, "updated_at": now})
        results.append({"video_id": video_id, "success": ok,
                        "message": "Visibility updated" if ok else "Video not found"})
    if changed := [video_key(channel_id, r["video_id"]) for r in results if r["success"]]:
        await ctx.nudge.nudge(VIDEOS, *changed)
    await ctx.cache.invalidate(videos_scope(channel_id), POOL)
    success = sum(1 for r in results if r["success"])
    return {"message": f"Batch visibility update completed: {success} successful, {len(results) - success} failed",
            "channel_id": channel_id, "new_visibility": body.visibility, "total_videos": len(results),
            "success_count": success, "error_count": len(results) - success, "results": results}


async def _public_pool(ctx: Ctx) -> list[dict[str, Any]]:
    """Every public video of every public channel, as the random-video payload (bounded)."""
    channels = {c["_id"]: c for c in await ctx.catalog.list_channels(
        visibility="public", language=None, limit=ctx.settings.max_channels)}
    listed = {cid: set(c.get("videos") or ()) for cid, c in channels.items()}
    pool = []
    for doc in await ctx.catalog.public_videos(ctx.settings.max_channels * ctx.settings.max_videos_per_channel):
        channel = channels.get(doc["channel_id"])
        if channel is not None and doc["video_id"] in listed[channel["_id"]]:
            pool.append({
                "channel_id": channel["_id"], "video_id": doc["video_id"], "video_title": doc.get("title", ""),
                "video_link": doc.get("link", ""), "channel_name": channel.get("name", ""),
                "channel_image_url": channel.get("image_url", ""), "language": channel.get("language", "en"),
            })
    return pool


@router.get("/service/random-video")
async def random_video(ctx: CatalogCtx, _: CurrentUser) -> dict[str, Any]:
    """Uniform over all eligible videos (legacy weighted channels by size to the same effect)."""
    pool = await ctx.cache.get_or_build(POOL, "public", lambda: _public_pool(ctx))
    if not pool:
        raise NotFound("No public videos available for random selection")
    return {"video": random.choice(pool), "total_available_videos": len(pool)}  # noqa: S311 - not security
