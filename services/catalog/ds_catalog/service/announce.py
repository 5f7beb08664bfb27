"""`python -m ds_catalog announce`: describe every channel and every live video again.

Each channel gets a new version carrying `channel.updated`, each live video one carrying
`video.updated` (its full metadata), through the outbox like any change. Another service's
projection of the catalog that started after the catalog had its data (a deployment that predates
that projection, or one rebuilt from scratch) learns all of it; consumers keep the newest version,
so announcing twice changes nothing but the versions. Run it once after such an upgrade, with the
relays running. It reads the whole catalog: an operator's command, never a request path.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import Sequence

from ds_common.runtime import open_stores
from ds_common.service import outbox_nudge
from ds_common.versioned import Change

from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.domain.channels import channel_updated
from ds_catalog.domain.videos import is_live, video_updated
from ds_catalog.settings import Settings


async def announce(repo: CatalogRepo) -> tuple[int, int]:
    """(channels, videos) announced. Each channel's lists of its public and refined videos are
    derived again on the way (what a catalogue older than those lists lacks)."""
    channels = videos = 0
    public: dict[str, list[str]] = defaultdict(list)
    refined: dict[str, list[str]] = defaultdict(list)
    async for doc in repo.videos.find({"removed": {"$ne": True}}, {"_id": 1}):
        written = await repo.video_docs.mutate(doc["_id"], lambda current: Change(
            events=[video_updated(current)]) if is_live(current) else None)
        if written.changed and written.document is not None:
            video = written.document
            videos += 1
            if video.get("visibility") == "public":
                public[video["channel_id"]].append(video["video_id"])
            if video.get("is_refined"):
                refined[video["channel_id"]].append(video["video_id"])
    async for doc in repo.channels.find({}, {"_id": 1}):
        written = await repo.channel_docs.mutate(doc["_id"], lambda current: None if current is None else Change(
            set={"public_videos": public[current["_id"]], "refined_videos": refined[current["_id"]]},
            events=[channel_updated(current["_id"], current)]))
        channels += written.changed
    return channels, videos


async def announce_in_store(settings: Settings) -> tuple[int, int]:
    async with open_stores(settings) as stores:  # nudged: the relay publishes at once
        return await announce(CatalogRepo(stores.db, outbox_nudge(settings, stores)))


def main(argv: Sequence[str]) -> int:
    argparse.ArgumentParser(prog="python -m ds_catalog announce", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    channels, videos = asyncio.run(announce_in_store(Settings()))
    print(f"announced {channels} channels and {videos} videos")
    return 0
