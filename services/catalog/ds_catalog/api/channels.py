"""Channels (legacy §4.2): a public cached list, admin batch create and typed update (W23)."""

from __future__ import annotations

from typing import Literal

from ds_common.auth import AdminUser
from ds_common.errors import BadRequest, NotFound
from ds_common.web import query_parameters
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ds_catalog.adapters.cache import CHANNELS, POOL, videos_scope
from ds_catalog.api.deps import CatalogCtx, Viewer, context_of, json_bytes, json_response, query_choice, viewer_of
from ds_catalog.api.views import channel_view
from ds_catalog.domain.values import ChannelId, ChannelVisibility, Language, LanguageFilter, NonEmptyText

router = APIRouter(tags=["channels"])


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ChannelId
    name: NonEmptyText
    image_url: NonEmptyText
    link: NonEmptyText
    language: Language = "en"
    visibility: ChannelVisibility = "public"


class ChannelBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: list[ChannelIn] = Field(min_length=1, max_length=200)


class ChannelUpdate(BaseModel):
    """Typed fields only (legacy W23 merged any key); null means "leave unchanged"."""

    model_config = ConfigDict(extra="forbid")

    name: NonEmptyText | None = None
    image_url: NonEmptyText | None = None
    link: NonEmptyText | None = None
    language: Language | None = None
    visibility: ChannelVisibility | None = None


ChannelFilter = Literal["all", "public", "private"]


@router.get("/service/channel", openapi_extra=query_parameters("visibility", "language"))
async def list_channels(request: Request) -> Response:
    """A bare array of channels. Learners and anonymous callers only ever see public channels."""
    # A hot path (the home page): inputs read directly, see ds_common.web.query_parameters.
    ctx, viewer = context_of(request), await viewer_of(request)
    visibility = query_choice(request, "visibility", ChannelFilter)
    language = query_choice(request, "language", LanguageFilter)
    if not (viewer and viewer.is_admin):
        if visibility == "private":
            return json_response(b"[]")
        visibility = "public"

    async def build() -> bytes:
        docs = await ctx.catalog.list_channels(visibility=None if visibility == "all" else visibility,
                                               language=None if language == "all" else language,
                                               limit=ctx.settings.max_channels)
        return json_bytes([channel_view(d) for d in docs])

    return json_response(await ctx.cache.get_or_build(CHANNELS, f"{visibility}|{language}", build))


@router.get("/service/channel/{channel_id}")
async def get_channel(channel_id: str, ctx: CatalogCtx, viewer: Viewer) -> dict[str, object]:
    doc = await ctx.catalog.get_channel(channel_id)
    if doc is None or (doc.get("visibility") != "public" and not (viewer and viewer.is_admin)):
        raise NotFound("Channel not found")
    return channel_view(doc)


@router.post("/service/channel")
async def create_channels(body: ChannelBatch, ctx: CatalogCtx, _: AdminUser) -> dict[str, str]:
    """Upsert a batch; the whole body is validated before the first write (legacy W23)."""
    ids = [c.id for c in body.channels]
    if len(set(ids)) != len(ids):
        raise BadRequest("Invalid input. Channel ids must be unique within a batch.")
    now = ctx.clock.now()
    for channel in body.channels:
        await ctx.catalog.upsert_channel(channel.model_dump(), now)
    await ctx.cache.invalidate(CHANNELS, POOL, *(videos_scope(i) for i in ids))
    return {"message": f"{len(ids)} channel(s) information saved or updated successfully"}


@router.put("/service/channel/{channel_id}")
async def update_channel(channel_id: str, body: ChannelUpdate, ctx: CatalogCtx, _: AdminUser) -> dict[str, str]:
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise BadRequest("No update data provided")
    if not await ctx.catalog.update_channel(channel_id, fields, ctx.clock.now()):
        raise NotFound("Channel not found")
    await ctx.cache.invalidate(CHANNELS, POOL, videos_scope(channel_id))
    return {"message": f"Channel {channel_id} updated successfully"}
