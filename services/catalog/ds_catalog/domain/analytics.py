"""Admin analytics over the catalog: per-channel counts of live videos (public, private, refined)
and popularity, i.e. distinct learner starts per quota cycle counted from `video.started`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ds_common.mongo import Document

from ds_catalog.domain.values import video_key

POPULAR_VIDEOS = 10
COUNTS = ("total_videos", "public_videos", "private_videos", "refined_videos", "starts")


def video_analytics(channels: Sequence[Document], videos: Sequence[Document],
                    starts: Mapping[str, int]) -> dict[str, Any]:
    """The legacy summary and per-channel rows (every channel, most videos first), with the
    additive popularity fields: `starts` per channel, `total_starts` and `popular_videos`."""
    names = {c["_id"]: c.get("name", "") for c in channels}
    per_channel: dict[str, Counter[str]] = {cid: Counter() for cid in names}

    def started(v: Document) -> int:
        return starts.get(video_key(v["channel_id"], v["video_id"]), 0)

    for v in videos:
        counts = per_channel.setdefault(v["channel_id"], Counter())
        public = v.get("visibility") == "public"
        counts.update(total_videos=1, public_videos=int(public), private_videos=int(not public),
                      refined_videos=int(bool(v.get("is_refined"))), starts=started(v))
    rows = [{"channel_id": cid, "channel_name": names.get(cid, ""), **{k: c[k] for k in COUNTS}}
            for cid, c in per_channel.items()]
    rows.sort(key=lambda r: (-r["total_videos"], r["channel_id"]))
    refined = sum(r["refined_videos"] for r in rows)
    total = len(videos)
    ranked = sorted(videos, key=lambda v: -started(v))
    popular = [{"channel_id": v["channel_id"], "video_id": v["video_id"], "title": v.get("title", ""),
                "starts": started(v)} for v in ranked[:POPULAR_VIDEOS] if started(v)]
    return {
        "summary": {"total_videos": total, "public_videos": sum(r["public_videos"] for r in rows),
                    "private_videos": sum(r["private_videos"] for r in rows), "refined_videos": refined,
                    "unrefined_videos": total - refined, "total_starts": sum(r["starts"] for r in rows)},
        "channels": rows,
        "popular_videos": popular,
    }
