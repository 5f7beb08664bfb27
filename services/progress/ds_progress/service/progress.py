"""Progress's use cases: autosave, restore, register a video, and the list views."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ds_common.auth import Principal
from ds_common.clock import Clock, to_ms, utc_midnight
from ds_common.errors import Forbidden, NotFound, ServiceUnavailable
from ds_common.events.contracts import PracticeRecorded
from ds_common.events.envelope import new_event
from ds_common.mongo import Document
from pymongo.errors import PyMongoError

from ds_progress.adapters.cache import ProgressCache
from ds_progress.adapters.catalog import CatalogView, VideoEntry
from ds_progress.adapters.journal import JournalWriter, ProgressReader, progress_key
from ds_progress.adapters.stats import PracticeStats
from ds_progress.adapters.users import UserDirectory
from ds_progress.domain.practice import checked_duration, initial_horizon, last_input
from ds_progress.service.quota import Quota

MAX_LISTED = 500


class Progress:
    def __init__(self, quota: Quota, journal: JournalWriter, reader: ProgressReader, cache: ProgressCache,
                 stats: PracticeStats, catalog: CatalogView, users: UserDirectory, clock: Clock) -> None:
        self.quota = quota
        self.journal = journal
        self.reader = reader
        self.cache = cache
        self.stats = stats
        self.catalog = catalog
        self.users = users
        self.clock = clock

    async def register(self, user: Principal, channel_id: str, video_id: str) -> None:
        """register_dictation: the video counted in the quota, with an empty progress entry."""
        now = self.clock.now()
        learner, video = await asyncio.gather(self.quota.ledgers.learner(user.user_id),
                                              self.catalog.video(channel_id, video_id))
        self._practicable(user, video)
        if await self.quota.start(user, learner, channel_id, video_id, now) == "new":
            await self.reader.start(user.user_id, channel_id, video_id, to_ms(now))

    @staticmethod
    def _practicable(user: Principal, video: VideoEntry) -> None:
        """Only videos the catalog has, and, for learners, shows them (a public video of a public
        channel); anything else looks like a video that does not exist."""
        if not video.known or not (video.visible or user.is_admin):
            raise NotFound("Video not found")

    async def save(self, user: Principal, channel_id: str, video_id: str, inputs: dict[str, str], current_time: int,
                   completion: float, duration: float, hints: dict[str, str]) -> dict[str, Any]:
        """Autosave: the save stored (journal), its practice credited (W20), its video registered;
        `hints`: the display names the client sent (channel_name, video_title, video_link)."""
        claimed, now = checked_duration(duration), self.clock.now()
        # The reads at once: the catalog's word on the video (usually this process's copy) and the
        # learner's ledger (a save registers its video: the front end's sidebar switch never calls
        # register_dictation). Practice is credited only to a save that is accepted.
        video, learner = await asyncio.gather(self.catalog.video(channel_id, video_id),
                                              self.quota.ledgers.learner(user.user_id))
        self._practicable(user, video)
        await self.quota.start(user, learner, channel_id, video_id, now)
        seconds = await self._credit(user.user_id, claimed, now)
        key = progress_key(user.user_id, channel_id, video_id)
        save = {"k": key, "u": user.user_id, "c": channel_id, "v": video_id, "in": inputs, "t": current_time,
                "p": round(completion, 2), "at": to_ms(now), "h": hints}
        event = None
        if seconds > 0:
            index, text = last_input(inputs)
            event = new_event(PracticeRecorded(user_id=user.user_id, channel_id=channel_id, video_id=video_id,
                                               duration_s=seconds, recorded_at=now, completion=save["p"],
                                               last_input_index=index, last_input=text),
                              key=user.user_id, sequence=to_ms(now), occurred_at=now)
        try:
            await self.journal.append(save, event)
        except PyMongoError as exc:  # not stored: the front end keeps its inputs and saves again
            raise ServiceUnavailable("Progress could not be saved, please retry") from exc
        totals = await self._totals(user.user_id, channel_id, video_id, to_ms(utc_midnight(now)), seconds,
                                    saved=(key, {"input": inputs, "current_time": current_time,
                                                 "completion": save["p"], **hints}))
        return {"message": "Dictation progress and video duration updated successfully",
                "videoDuration": totals[3], "channelTotalDuration": totals[2],
                "totalDuration": totals[0], "dailyDuration": totals[1]}

    async def _credit(self, user_id: str, claimed: float, now: datetime) -> int:
        """The practice seconds to credit (domain/practice.py): the account's creation is looked up
        only when the learner has no horizon yet (their first save, or none for a day)."""
        credited = await self.cache.credit_practice(user_id, claimed, now.timestamp())
        if credited is None:
            created = await self.users.created_at(user_id)
            start = initial_horizon(None if created is None else created.timestamp(), now.timestamp())
            credited = await self.cache.credit_practice(user_id, claimed, now.timestamp(), initial_horizon_s=start)
        return credited or 0

    async def _totals(self, user_id: str, channel_id: str, video_id: str, day_ms: int, seconds: int,
                      saved: tuple[str, Document]) -> list[int]:
        """Totals shown after a save: a Redis copy of the statistics projection plus the saves since.

        The projection is authoritative (GET /user/duration reads it); this copy only feeds the save
        response and is rebuilt from the projection when it has expired.
        """
        fields = ["all", f"d:{day_ms}", f"c:{channel_id}", f"v:{channel_id}:{video_id}"]
        added = await self.cache.after_save(*saved, user_id, fields, seconds)  # one Redis round trip
        if added is not None:
            return added
        totals = await self.stats.totals(user_id)
        for field in fields:
            totals[field] = totals.get(field, 0) + seconds
        await self.cache.set_totals(user_id, totals)
        return [totals[f] for f in fields]

    async def restore(self, user: Principal, channel_id: str, video_id: str) -> dict[str, Any]:
        key = progress_key(user.user_id, channel_id, video_id)
        state = await self.cache.get(key)
        if state is None:
            generation = await self.cache.generation(key)
            state = await self.reader.one(user.user_id, key)
            if state is not None:
                await self.cache.fill(key, generation, state)
        if state is None:  # legacy: an empty string, not {}, when nothing was saved
            return {"channelId": channel_id, "videoId": video_id, "userInput": "", "currentTime": 0,
                    "overallCompletion": 0}
        return {"channelId": channel_id, "videoId": video_id, "userInput": state.get("input", {}),
                "currentTime": state.get("current_time", 0), "overallCompletion": state.get("completion", 0)}

    async def channel_badges(self, user: Principal, channel_id: str) -> dict[str, Any]:
        """Every video of the channel with the learner's completion, 0 when not started."""
        states, videos = await asyncio.gather(self.reader.listing(user.user_id, channel_id=channel_id),
                                              self.catalog.video_ids(channel_id, visible_only=not user.is_admin))
        if videos is None:  # a channel learners may not see: as if it did not exist
            raise NotFound("Channel not found")
        shown = set(videos)
        states = [s for s in states if s["video_id"] in shown or user.is_admin]
        progress: dict[str, float] = dict.fromkeys(videos, 0)
        progress.update((s["video_id"], s["completion"]) for s in states)
        return {"channelId": channel_id, "progress": progress}

    async def channel_started(self, user: Principal, channel_id: str) -> dict[str, Any]:
        states = await self.reader.listing(user.user_id, channel_id=channel_id)
        return {"channelId": channel_id,
                "progress": [{"videoId": s["video_id"], "overallCompletion": s["completion"]} for s in states]}

    async def everything(self, user: Principal, user_email: str | None) -> dict[str, Any]:
        """The learner's progress page (an admin may name another learner by e-mail)."""
        user_id = user.user_id
        if user_email:
            if not user.is_admin:
                raise Forbidden("Admin access required")
            found = await self.users.by_email(user_email)
            if found is None:
                raise NotFound("User not found")
            user_id = found["_id"]
        states = [s for s in await self.reader.listing(user_id) if s["typed"]]
        # Names from the catalog, whatever the client sent; like the legacy list, nothing for videos
        # (or channels) the catalog has deleted since.
        catalog = await self.catalog.entries((s["channel_id"], s["video_id"]) for s in states)
        states = [s for s in states if not (entry := catalog[(s["channel_id"], s["video_id"])]).removed
                  and (entry.visible or user.is_admin)]
        states.sort(key=lambda s: s["last_save_ms"], reverse=True)
        progress = []
        for s in states[:MAX_LISTED]:
            entry = catalog[(s["channel_id"], s["video_id"])]
            progress.append({
                "channelId": s["channel_id"], "channelName": entry.channel_name or s.get("channel_name", ""),
                "videoId": s["video_id"], "videoTitle": entry.video_title or s.get("video_title", ""),
                "videoLink": entry.video_link or s.get("video_link", ""), "overallCompletion": s["completion"]})
        return {"progress": progress}
