"""Progress's projection of the catalog: what each channel and video is called, whether learners
may see it, and which videos a channel has (the per-channel badges list every video).

One document per channel (`_id` = channel id): `name`, `visibility` and `cseq` from
`channel.updated`; `v.<video id>` = {seq, removed, title, link, visibility} from `video.published`,
`video.updated` and `video.removed`. The events of one video travel on three topics, so each
video keeps the newest of its catalog sequence numbers, and each channel the newest of its own.
Read through a Redis copy (local for a second in each API process), which the consumer forgets
after each change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ds_common.cache import DocumentCache
from ds_common.mongo import Document, DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import CATALOG


@dataclass(frozen=True)
class VideoEntry:
    """One video as the catalog last described it (empty names when it never did)."""

    channel_name: str = ""
    video_title: str = ""
    video_link: str = ""
    known: bool = False  # the catalog published it and has not removed it
    removed: bool = False  # the catalog deleted it
    visible: bool = False  # learners may see it: a public video of a public channel


class CatalogView:
    def __init__(self, db: AsyncDatabase[Document], copies: DocumentCache) -> None:
        self.collection = db[CATALOG]
        self.copies = copies

    # --- the consumer's writes ------------------------------------------------------------------
    async def record_channel(self, channel_id: str, sequence: int, *, name: str, visibility: str) -> None:
        newer = {"$or": [{"cseq": {"$exists": False}}, {"cseq": {"$lt": sequence}}]}
        await self._upsert({"_id": channel_id, **newer},
                           {"$set": {"cseq": sequence, "name": name, "visibility": visibility}})
        await self.copies.forget(channel_id)

    async def record_video(self, channel_id: str, video_id: str, sequence: int, *, removed: bool,
                           described: Mapping[str, str] | None = None) -> None:
        """`described`: title, link and visibility, when the event carries them (a removal does not)."""
        field = f"v.{video_id}"
        newer = {"$or": [{f"{field}.seq": {"$exists": False}}, {f"{field}.seq": {"$lt": sequence}}]}
        fields = {f"{field}.{name}": value for name, value in (described or {}).items()}
        await self._upsert({"_id": channel_id, **newer},
                           {"$set": {f"{field}.seq": sequence, f"{field}.removed": removed, **fields}})
        await self.copies.forget(channel_id)

    async def _upsert(self, query: Document, update: Document) -> None:
        with contextlib.suppress(DuplicateKeyError):  # the channel exists and holds a newer state
            await self.collection.update_one(query, update, upsert=True)

    # --- reads ----------------------------------------------------------------------------------
    async def _load(self, channel_ids: list[str]) -> dict[str, Document]:
        docs = await asyncio.gather(*(self.collection.find_one({"_id": c}) for c in channel_ids))
        return {c: doc or {} for c, doc in zip(channel_ids, docs, strict=True)}

    async def channels(self, channel_ids: Iterable[str], *, local: bool = True) -> dict[str, Document]:
        found = await self.copies.get_many(list(channel_ids), self._load, local=local)
        return {c: doc or {} for c, doc in found.items()}

    async def video(self, channel_id: str, video_id: str) -> VideoEntry:
        """One video as the catalog described it; a video this process's one-second copy does not
        know yet (published a moment ago) is looked up again in the shared copy."""
        entry = describe((await self.channels([channel_id]))[channel_id], video_id)
        if not entry.known:
            entry = describe((await self.channels([channel_id], local=False))[channel_id], video_id)
        return entry

    async def video_ids(self, channel_id: str, *, visible_only: bool = False) -> list[str] | None:
        """The channel's videos (not removed; only those learners may see, if asked); None when
        `visible_only` and learners may not see the channel itself."""
        channel = (await self.channels([channel_id]))[channel_id]
        if visible_only and channel.get("visibility") != "public":
            return None
        return [video for video in (channel.get("v") or {})
                if (entry := describe(channel, video)).known and (entry.visible or not visible_only)]

    async def entries(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], VideoEntry]:
        """Each (channel, video) as described by the catalog (one Redis read for all)."""
        keys = list(keys)
        channels = await self.channels({channel for channel, _ in keys})
        return {(c, v): describe(channels[c], v) for c, v in keys}


def describe(channel: Mapping[str, Any], video_id: str) -> VideoEntry:
    video = (channel.get("v") or {}).get(video_id)
    if video is None:
        return VideoEntry(channel_name=channel.get("name", ""))
    known = not video.get("removed", False)
    return VideoEntry(channel_name=channel.get("name", ""), video_title=video.get("title", ""),
                      video_link=video.get("link", ""), known=known, removed=not known,
                      visible=known and channel.get("visibility") == "public" and video.get("visibility") == "public")
