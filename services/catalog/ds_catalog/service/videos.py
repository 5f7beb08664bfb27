"""Videos: a channel's list (cached, as the bytes the route answers), the admin's edits and
deletion with their events, the batch visibility change, and the random pick for learners."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from ds_common.clock import Clock
from ds_common.errors import NotFound
from ds_common.ids import is_youtube_id
from ds_common.mongo import Document

from ds_catalog.adapters.cache import CHANNELS, POOL, ReadCache, videos_scope
from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.domain import videos as rules
from ds_catalog.domain.values import video_key
from ds_catalog.settings import Settings

RenderVideos = Callable[[str, list[Document]], bytes]  # the api's answer for a channel's videos

RANDOM_ATTEMPTS = 8


class Videos:
    def __init__(self, catalog: CatalogRepo, cache: ReadCache, clock: Clock, settings: Settings) -> None:
        self.catalog = catalog
        self.cache = cache
        self.clock = clock
        self.settings = settings

    async def listing(self, channel_id: str, visibility: str, language: str, *, admin: bool,
                      render: RenderVideos) -> bytes:
        """A channel's live videos filtered by visibility and language ("all": any), in upload
        order, as `render` makes them, from the read cache. Learners only see public videos of
        public channels."""
        if not is_youtube_id(channel_id):  # never a cache key for a malformed id
            raise NotFound("Channel not found")
        viewer = "admin" if admin else "learner"
        if not admin:
            if visibility not in ("all", "public"):
                return render(channel_id, [])
            visibility = "public"

        async def build() -> bytes | None:
            channel = await self.catalog.channel_docs.get(channel_id)
            if channel is None or (not admin and channel.get("visibility") != "public"):
                return None
            if language not in ("all", channel.get("language", "en")):
                return render(channel_id, [])
            ids = list(channel.get("videos") or [])[: self.settings.max_videos_per_channel]
            docs = await self.catalog.videos_of(channel_id, ids)
            return render(channel_id, [d for d in docs if visibility == "all" or d.get("visibility") == visibility])

        key = f"{viewer}|{visibility}|{language}"
        body: bytes | None = await self.cache.get_or_build(videos_scope(channel_id), key, build)
        if body is None:
            raise NotFound("Channel not found")
        return body

    async def update(self, channel_id: str, video_id: str, fields: Mapping[str, Any]) -> None:
        """An admin's edit (title, visibility, link of the same video), with `video.updated`."""
        changed = rules.checked_update(video_id, fields)
        if not await self._change(channel_id, video_id, {**changed, "updated_at": self.clock.now()}):
            raise NotFound("Video not found")
        await self.cache.invalidate(videos_scope(channel_id), POOL)

    async def remove(self, channel_id: str, video_id: str) -> None:
        """Tombstone the video with `video.removed`; progress and transcripts clean up from the
        event (legacy scanned every user here, W17)."""
        written = await self.catalog.video_docs.mutate(video_key(channel_id, video_id), rules.remove(self.clock.now()))
        if not written.changed:
            raise NotFound("Video not found")
        await self.catalog.remove_video_from_channel(channel_id, video_id)
        await self.cache.invalidate(CHANNELS, POOL, videos_scope(channel_id))

    async def set_visibility(self, channel_id: str, visibility: str) -> list[dict[str, Any]]:
        """Every listed video of the channel to `visibility`, one `video.updated` each; a result
        per video."""
        channel = await self.catalog.channel_docs.get(channel_id)
        video_ids = list(channel.get("videos") or []) if channel else []
        if not video_ids:
            raise NotFound(f"No videos found in channel {channel_id}")
        now = self.clock.now()
        results = []
        for video_id in video_ids[: self.settings.max_videos_per_channel]:
            ok = await self._change(channel_id, video_id, {"visibility": visibility, "updated_at": now})
            results.append({"video_id": video_id, "success": ok,
                            "message": "Visibility updated" if ok else "Video not found"})
        await self.cache.invalidate(videos_scope(channel_id), POOL)
        return results

    async def _change(self, channel_id: str, video_id: str, fields: Mapping[str, Any]) -> bool:
        written = await self.catalog.video_docs.mutate(video_key(channel_id, video_id), rules.change(fields))
        if written.changed and "visibility" in fields:
            await self.catalog.mark_in_channel(channel_id, video_id, "public", fields["visibility"] == "public")
        return written.changed

    async def random_pick(self) -> tuple[dict[str, Any], int]:
        """A public video of a public channel and how many there are; uniform over all eligible
        videos (legacy weighted channels by size to the same effect). The pool is the public
        channels' lists of public video ids (one read of the small channels collection, kept per
        process until a change); the drawn video is then read by `_id`."""
        pool: list[tuple[Document, list[str]]] = await self.cache.get_or_build(POOL, "public", self._public_pool)
        total = sum(len(ids) for _, ids in pool)
        for _ in range(RANDOM_ATTEMPTS):  # a list may trail its video by a moment: draw again
            if not total:
                break
            channel, ids = random.choices(pool, weights=[len(i) for _, i in pool])[0]  # noqa: S311 - not security
            video = await self.catalog.get_video(channel["_id"], random.choice(ids))  # noqa: S311
            if video is not None and video.get("visibility") == "public":
                return {"channel_id": channel["_id"], "video_id": video["video_id"],
                        "video_title": video.get("title", ""), "video_link": video.get("link", ""),
                        "channel_name": channel.get("name", ""), "channel_image_url": channel.get("image_url", ""),
                        "language": channel.get("language", "en")}, total
        raise NotFound("No public videos available for random selection")

    async def _public_pool(self) -> list[tuple[Document, list[str]]]:
        channels = await self.catalog.list_channels(visibility="public", language=None,
                                                    limit=self.settings.max_channels)
        return [(c, list(c.get("public_videos") or [])) for c in channels if c.get("public_videos")]
