"""What this service keeps of other services' events, to decide access without asking them.

- `entitlements` (from billing's `plan.changed`): the user's entitlement, newest `sequence` wins;
  whether it is paid is judged at read time (domain/access.py).
- `access` (from progress's `video.started`): `_id = "<user>:<channel>:<video>"` with the end of
  the latest quota cycle the user registered that video in (`$max`, whatever the delivery order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from ds_common.events.consumer import apply_once_by_sequence
from ds_common.events.contracts import PlanChanged, VideoStarted
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

ACCESS = "access"
ENTITLEMENTS = "entitlements"


def access_id(user_id: str, channel_id: str, video_id: str) -> str:
    return f"{user_id}:{channel_id}:{video_id}"


class AccessProjections:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.access = db[ACCESS]
        self.entitlements = db[ENTITLEMENTS]

    async def lookup(self, user_id: str, channel_id: str,
                     video_id: str) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
        """The user's stored entitlement and their registration of the video (each None if absent):
        two `_id` lookups at once."""
        entitlement, registration = await asyncio.gather(
            self.entitlements.find_one({"_id": user_id}),
            self.access.find_one({"_id": access_id(user_id, channel_id, video_id)}))
        return (entitlement or {}).get("entitlement"), registration

    async def video_started(self, data: VideoStarted) -> None:
        # $max keeps the latest cycle whatever the delivery order; repeating it changes nothing.
        await self.access.update_one({"_id": access_id(data.user_id, data.channel_id, data.video_id)},
                                     {"$max": {"cycle_end": data.cycle_end}}, upsert=True)

    async def plan_changed(self, data: PlanChanged, sequence: int) -> None:
        await apply_once_by_sequence(self.entitlements, data.user_id, sequence,
                                     {"$set": {"entitlement": data.entitlement.model_dump()}})
