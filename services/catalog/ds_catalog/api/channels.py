"""Channels: a public cached list, one channel, admin batch create and typed update (W23)."""

from __future__ import annotations

import orjson
from ds_common.auth import AdminUser, Viewer, viewer
from ds_common.ids import IdPath
from ds_common.mongo import Document
from ds_common.web import FastQuery
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ds_catalog.api.deps import Context, Ctx, cached_json, choice
from ds_catalog.api.schemas import ChannelBatch, ChannelOut, ChannelUpdate, Message, channel_view
from ds_catalog.domain.values import ChannelFilter, LanguageFilter

router = APIRouter(tags=["channels"])

LIST_QUERY = FastQuery(optional=("visibility", "language"))


def render_channels(docs: list[Document]) -> bytes:
    return orjson.dumps([channel_view(d) for d in docs])


@router.get("/service/channel", response_model=list[ChannelOut], openapi_extra=LIST_QUERY.openapi())
async def list_channels(request: Request) -> Response:
    """A bare array of channels. Learners and anonymous callers only ever see public channels."""
    # A hot route (the home page): inputs read directly, see ds_common.web.FastQuery.
    ctx, caller = Context.of(request), await viewer(request)
    found = LIST_QUERY.read(request)
    visibility, language = choice(found, "visibility", ChannelFilter), choice(found, "language", LanguageFilter)
    return cached_json(await ctx.channels.listing(visibility, language, admin=bool(caller and caller.is_admin),
                                                  render=render_channels))


@router.get("/service/channel/{channel_id}", response_model=ChannelOut)
async def get_channel(channel_id: str, ctx: Ctx, caller: Viewer) -> dict[str, object]:
    return channel_view(await ctx.channels.get(channel_id, admin=bool(caller and caller.is_admin)))


@router.post("/service/channel", response_model=Message)
async def create_channels(body: ChannelBatch, ctx: Ctx, _: AdminUser) -> dict[str, str]:
    """Upsert a batch; the whole body is validated before the first write (legacy W23)."""
    saved = await ctx.channels.save([c.model_dump() for c in body.channels])
    return {"message": f"{saved} channel(s) information saved or updated successfully"}


@router.put("/service/channel/{channel_id}", response_model=Message)
async def update_channel(channel_id: IdPath, body: ChannelUpdate, ctx: Ctx, _: AdminUser) -> dict[str, str]:
    await ctx.channels.update(channel_id, body.model_dump(exclude_none=True))
    return {"message": f"Channel {channel_id} updated successfully"}
