"""Admin analytics over the catalog, with popularity from `video.started`."""

from __future__ import annotations

from typing import Any

from ds_common.clock import Clock
from ds_common.mongo import Document

from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.adapters.submissions_repo import SubmissionsRepo
from ds_catalog.domain.analytics import POPULAR_VIDEOS, video_analytics
from ds_catalog.domain.values import video_key
from ds_catalog.settings import Settings


class Analytics:
    def __init__(self, catalog: CatalogRepo, submissions: SubmissionsRepo, clock: Clock, settings: Settings) -> None:
        self.catalog = catalog
        self.submissions = submissions
        self.clock = clock
        self.settings = settings

    async def videos(self) -> dict[str, Any]:
        """Counts per channel and in all, popularity, and when they were counted: from the
        channels' lists (the small channels collection) and the starts, never the videos
        collection; the few popular videos' titles by `_id`."""
        channels = await self._channels()
        starts = await self.submissions.starts_by_video()
        listed = {video_key(c["_id"], v) for c in channels for v in c.get("videos") or ()}
        ranked = sorted((key for key in starts if key in listed), key=lambda key: -starts[key])[:POPULAR_VIDEOS]
        titles = {d["_id"]: d.get("title", "") for d in await self.catalog.video_titles(ranked) if d is not None}
        return {**video_analytics(channels, starts, titles), "timestamp": self.clock.now().isoformat()}

    async def totals(self) -> dict[str, Any]:
        channels = await self._channels()
        return {"total_channels": len(channels), "total_videos": sum(len(c.get("videos") or ()) for c in channels),
                "timestamp": self.clock.now().isoformat()}

    async def _channels(self) -> list[Document]:
        return await self.catalog.list_channels(visibility=None, language=None, limit=self.settings.max_channels)
