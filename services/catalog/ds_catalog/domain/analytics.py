"""Admin analytics over the catalog: per-channel counts of live videos (public, private, refined)
and popularity, i.e. distinct learner starts per quota cycle counted from `video.started`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ds_common.mongo import Document

from ds_catalog.domain.values import video_key

POPULAR_VIDEOS = 10


def video_analytics(channels: Sequence[Document], starts: Mapping[str, int],
                    titles: Mapping[str, str]) -> dict[str, Any]:
    """The legacy summary and per-channel rows (every channel, most videos first), with the
    additive popularity fields: `starts` per channel, `total_starts` and `popular_videos` (of
    `titles`: the most started videos' titles, by video key). Counts come from each channel's lists
    of its videos, public and refined videos."""
    rows = []
    for c in channels:
        videos, public = list(c.get("videos") or ()), set(c.get("public_videos") or ())
        refined = set(c.get("refined_videos") or ())
        rows.append({"channel_id": c["_id"], "channel_name": c.get("name", ""), "total_videos": len(videos),
                     "public_videos": sum(v in public for v in videos),
                     "private_videos": sum(v not in public for v in videos),
                     "refined_videos": sum(v in refined for v in videos),
                     "starts": sum(starts.get(video_key(c["_id"], v), 0) for v in videos)})
    rows.sort(key=lambda r: (-r["total_videos"], r["channel_id"]))
    total = sum(r["total_videos"] for r in rows)
    refined_total = sum(r["refined_videos"] for r in rows)
    popular = [{"channel_id": key.split(":", 1)[0], "video_id": key.split(":", 1)[1], "title": title,
                "starts": starts[key]} for key, title in titles.items() if starts.get(key)]
    popular.sort(key=lambda p: -p["starts"])
    return {
        "summary": {"total_videos": total, "public_videos": sum(r["public_videos"] for r in rows),
                    "private_videos": sum(r["private_videos"] for r in rows), "refined_videos": refined_total,
                    "unrefined_videos": total - refined_total, "total_starts": sum(r["starts"] for r in rows)},
        "channels": rows,
        "popular_videos": popular[:POPULAR_VIDEOS],
    }
