"""What this service keeps of other services' events, to decide access without asking them.

- `entitlements` (from billing's `plan.changed`): the user's entitlement, newest `sequence` wins;
  whether it is paid is judged at read time (domain/access.py).
- `access` (from progress's `video.started`): `_id = "<user>:<channel>:<video>"` with the end of
  the latest quota cycle the user registered that video in (`$max`, whatever the delivery order).
- `channels` (from the catalog's `channel.updated`): each channel's visibility, newest `sequence`
  wins. A video's own visibility is in its transcript document (domain/transcript.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ds_common.events.consumer import apply_once_by_sequence
from ds_common.events.contracts import ChannelUpdated, PlanChanged, VideoStarted
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_transcripts.adapters.store import TRANSCRIPTS, doc_id

ACCESS = "access"
ENTITLEMENTS = "entitlements"
CHANNELS = "channels"


def access_id(user_id: str, channel_id: str, video_id: str) -> str:
    return f"{user_id}:{channel_id}:{video_id}"


@dataclass(frozen=True)
class Standing:
    """What the projections say about one learner and one video (each None when absent)."""

    entitlement: Mapping[str, Any] | None
    registration: Mapping[str, Any] | None
    channel: Mapping[str, Any] | None
    video: Mapping[str, Any] | None


class AccessProjections:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.access = db[ACCESS]
        self.entitlements = db[ENTITLEMENTS]
        self.channels = db[CHANNELS]
        self.transcripts = db[TRANSCRIPTS]

    async def lookup(self, user_id: str, channel_id: str, video_id: str) -> Standing:
        """The user's entitlement, their registration of the video, the channel's and the video's
        visibility: four `_id` lookups at once."""
        entitlement, registration, channel, video = await asyncio.gather(
            self.entitlements.find_one({"_id": user_id}),
            self.access.find_one({"_id": access_id(user_id, channel_id, video_id)}),
            self.channels.find_one({"_id": channel_id}, {"visibility": 1}),
            self.transcripts.find_one({"_id": doc_id(channel_id, video_id)}, {"visibility": 1, "status": 1}))
        return Standing((entitlement or {}).get("entitlement"), registration, channel, video)

    async def channel_updated(self, data: ChannelUpdated, sequence: int) -> None:
        await apply_once_by_sequence(self.channels, data.channel_id, sequence,
                                     {"$set": {"visibility": data.visibility}})

    async def video_started(self, data: VideoStarted) -> None:
        # $max keeps the latest cycle whatever the delivery order; repeating it changes nothing.
        await self.access.update_one({"_id": access_id(data.user_id, data.channel_id, data.video_id)},
                                     {"$max": {"cycle_end": data.cycle_end}}, upsert=True)

    async def plan_changed(self, data: PlanChanged, sequence: int) -> None:
        await apply_once_by_sequence(self.entitlements, data.user_id, sequence,
                                     {"$set": {"entitlement": data.entitlement.model_dump()}})
