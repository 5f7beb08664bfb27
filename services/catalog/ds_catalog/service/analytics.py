"""Admin analytics over the catalog, with popularity from `video.started`."""

from __future__ import annotations

from typing import Any

from ds_common.clock import Clock

from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.adapters.submissions_repo import SubmissionsRepo
from ds_catalog.domain.analytics import video_analytics
from ds_catalog.settings import Settings


class Analytics:
    def __init__(self, catalog: CatalogRepo, submissions: SubmissionsRepo, clock: Clock, settings: Settings) -> None:
        self.catalog = catalog
        self.submissions = submissions
        self.clock = clock
        self.settings = settings

    async def videos(self) -> dict[str, Any]:
        """Counts per channel and in all, popularity, and when they were counted (bounded reads)."""
        limit = self.settings.max_channels
        channels = await self.catalog.list_channels(visibility=None, language=None, limit=limit)
        videos = await self.catalog.live_videos(limit * self.settings.max_videos_per_channel)
        starts = await self.submissions.starts_by_video()
        return {**video_analytics(channels, videos, starts), "timestamp": self.clock.now().isoformat()}

    async def totals(self) -> dict[str, Any]:
        return {"total_channels": await self.catalog.count_channels(),
                "total_videos": await self.catalog.count_videos(), "timestamp": self.clock.now().isoformat()}
