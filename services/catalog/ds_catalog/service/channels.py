"""Channels: the public list (cached, as the bytes the route answers), one channel, and the
admin's batch upsert and typed update (legacy W23: the whole batch is validated first)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ds_common.clock import Clock
from ds_common.errors import NotFound
from ds_common.mongo import Document

from ds_catalog.adapters.cache import CHANNELS, POOL, ReadCache, videos_scope
from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.domain import channels as rules
from ds_catalog.domain.errors import NothingToUpdate
from ds_catalog.settings import Settings

RenderChannels = Callable[[list[Document]], bytes]  # the api's answer for a list of channels


class Channels:
    def __init__(self, catalog: CatalogRepo, cache: ReadCache, clock: Clock, settings: Settings) -> None:
        self.catalog = catalog
        self.cache = cache
        self.clock = clock
        self.settings = settings

    async def listing(self, visibility: str, language: str, *, admin: bool, render: RenderChannels) -> bytes:
        """The channel list filtered by visibility and language ("all": any), as `render` makes
        it, from the read cache. Learners and anonymous callers only ever see public channels."""
        if not admin:
            if visibility == "private":
                return render([])
            visibility = "public"

        async def build() -> bytes:
            docs = await self.catalog.list_channels(visibility=None if visibility == "all" else visibility,
                                                    language=None if language == "all" else language,
                                                    limit=self.settings.max_channels)
            return render(docs)

        body: bytes = await self.cache.get_or_build(CHANNELS, f"{visibility}|{language}", build)
        return body

    async def get(self, channel_id: str, *, admin: bool) -> Document:
        """One channel; a private one only for admins."""
        doc = await self.catalog.channel_docs.get(channel_id)
        if doc is None or (doc.get("visibility") != "public" and not admin):
            raise NotFound("Channel not found")
        return doc

    async def save(self, channels: Sequence[Mapping[str, Any]]) -> int:
        """Create or overwrite each channel's description (`id` and the descriptive fields); the
        video lists are kept. Returns how many were saved."""
        ids = [c["id"] for c in channels]
        rules.unique_ids(ids)
        now = self.clock.now()
        for channel in channels:
            described = {k: v for k, v in channel.items() if k != "id"}
            await self.catalog.channel_docs.mutate(channel["id"], rules.upsert(channel["id"], described, now),
                                                   created=rules.new_channel(now))
        await self.cache.invalidate(CHANNELS, POOL, *(videos_scope(i) for i in ids))
        return len(ids)

    async def update(self, channel_id: str, fields: Mapping[str, Any]) -> None:
        """Change some descriptive fields (typed, never the video list)."""
        if not fields:
            raise NothingToUpdate
        written = await self.catalog.channel_docs.mutate(channel_id, rules.update(fields, self.clock.now()))
        if written.document is None:
            raise NotFound("Channel not found")
        await self.cache.invalidate(CHANNELS, POOL, videos_scope(channel_id))

    async def create_once(self, channel: Mapping[str, Any], *, source: str) -> bool:
        """Create a channel unless one exists; True also when `source` created it before (a retry)."""
        now = self.clock.now()
        described = {k: v for k, v in channel.items() if k != "id"}
        written = await self.catalog.channel_docs.mutate(
            channel["id"], rules.create_once(channel["id"], described, now, source=source),
            created=rules.new_channel(now))
        created = written.changed or bool(written.document and written.document.get("source") == source)
        if created:  # a retry heals an invalidation the first attempt did not reach
            await self.cache.invalidate(CHANNELS, POOL, videos_scope(channel["id"]))
        return created
