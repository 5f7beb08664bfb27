"""Admin analytics over the catalog (legacy §4.12), plus popularity from `video.started`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ds_common.auth import AdminUser
from fastapi import APIRouter

from ds_catalog.api.deps import CatalogCtx
from ds_catalog.domain.values import video_key

router = APIRouter(tags=["admin"])
POPULAR_VIDEOS = 10


@router.get("/service/admin/analytics/videos")
async def video_analytics(ctx: CatalogCtx, _: AdminUser) -> dict[str, Any]:
    """The legacy summary and per-channel counts, with additive popularity fields: `starts` per
    channel, `total_starts` and `popular_videos` (distinct learner starts per quota cycle)."""
    limit = ctx.settings.max_channels * ctx.settings.max_videos_per_channel
    channels = await ctx.catalog.list_channels(visibility=None, language=None, limit=ctx.settings.max_channels)
    videos = await ctx.catalog.live_videos(limit)
    starts = await ctx.submissions.starts_by_video()
    names = {c["_id"]: c.get("name", "") for c in channels}
    per_channel: dict[str, Counter[str]] = {cid: Counter() for cid in names}
    for v in videos:
        counts = per_channel.setdefault(v["channel_id"], Counter())
        public = v.get("visibility") == "public"
        counts.update(total_videos=1, public_videos=int(public), private_videos=int(not public),
                      refined_videos=int(bool(v.get("is_refined"))),
                      starts=starts.get(video_key(v["channel_id"], v["video_id"]), 0))
    rows = [{"channel_id": cid, "channel_name": names.get(cid, ""),
             **{k: c[k] for k in ("total_videos", "public_videos", "private_videos", "refined_videos", "starts")}}
            for cid, c in per_channel.items()]
    rows.sort(key=lambda r: (-r["total_videos"], r["channel_id"]))
    refined = sum(r["refined_videos"] for r in rows)
    total = len(videos)
    ranked = sorted(videos, key=lambda v: -starts.get(video_key(v["channel_id"], v["video_id"]), 0))
    popular = [{"channel_id": v["channel_id"], "video_id": v["video_id"], "title": v.get("title", ""),
                "starts": starts[video_key(v["channel_id"], v["video_id"])]}
               for v in ranked[:POPULAR_VIDEOS] if starts.get(video_key(v["channel_id"], v["video_id"]))]
    return {
        "summary": {"total_videos": total, "public_videos": sum(r["public_videos"] for r in rows),
                    "private_videos": sum(r["private_videos"] for r in rows), "refined_videos": refined,
                    "unrefined_videos": total - refined, "total_starts": sum(r["starts"] for r in rows)},
        "channels": rows,
        "popular_videos": popular,
        "timestamp": ctx.clock.now().isoformat(),
    }


@router.get("/service/admin/stats")
async def admin_stats(ctx: CatalogCtx, _: AdminUser) -> dict[str, Any]:
    return {"total_channels": await ctx.catalog.count_channels(), "total_videos": await ctx.catalog.count_videos(),
            "timestamp": ctx.clock.now().isoformat()}
