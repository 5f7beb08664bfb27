"""Admin analytics over the catalog, with popularity from `video.started`."""

from __future__ import annotations

from typing import Any

from ds_common.auth import AdminUser
from fastapi import APIRouter

from ds_catalog.api.deps import Ctx
from ds_catalog.api.schemas import AdminStats, VideoAnalytics

router = APIRouter(tags=["admin"])


@router.get("/service/admin/analytics/videos", response_model=VideoAnalytics)
async def video_analytics(ctx: Ctx, _: AdminUser) -> dict[str, Any]:
    """The legacy summary and per-channel counts, with additive popularity fields: `starts` per
    channel, `total_starts` and `popular_videos` (distinct learner starts per quota cycle)."""
    return await ctx.analytics.videos()


@router.get("/service/admin/stats", response_model=AdminStats)
async def admin_stats(ctx: Ctx, _: AdminUser) -> dict[str, Any]:
    return await ctx.analytics.totals()
