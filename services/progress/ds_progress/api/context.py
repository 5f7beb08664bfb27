"""The collaborators every route uses, built once per API process and kept on `app.state.ctx`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import httpx
from ds_common.auth import Principal
from ds_common.clock import Clock
from ds_common.events.outbox import OutboxNudge
from ds_common.redis import KeySpace
from ds_common.runtime import Stores
from fastapi import Depends, Request

from ds_progress.adapters.cache import ProgressCache
from ds_progress.adapters.collections import QUOTA
from ds_progress.adapters.journal import JournalWriter, ProgressReader
from ds_progress.adapters.records import ChannelVideos, Entitlements, MissedWords, QuotaLedger, Users
from ds_progress.adapters.stats import PracticeStats
from ds_progress.domain.rules import has_paid_plan
from ds_progress.settings import Settings


@dataclass
class Context:
    settings: Settings
    clock: Clock
    journal: JournalWriter
    reader: ProgressReader
    cache: ProgressCache
    quota: QuotaLedger
    entitlements: Entitlements
    users: Users
    channels: ChannelVideos
    words: MissedWords
    stats: PracticeStats
    http: httpx.AsyncClient
    nudge: OutboxNudge

    @classmethod
    def build(cls, settings: Settings, stores: Stores, clock: Clock, nudge: OutboxNudge,
              http: httpx.AsyncClient) -> Context:
        db = stores.db
        return cls(
            settings=settings, clock=clock, nudge=nudge,
            journal=JournalWriter(db),
            reader=ProgressReader(db), cache=ProgressCache(stores.redis, KeySpace(settings.service_name)),
            quota=QuotaLedger(db, limit=settings.free_videos_per_cycle, cycle_days=settings.cycle_days),
            entitlements=Entitlements(db), users=Users(db), channels=ChannelVideos(db), words=MissedWords(db),
            stats=PracticeStats(db),
            http=http,
        )

    async def nudge_relay(self, user_id: str) -> None:
        await self.nudge.nudge(QUOTA, user_id)

    def now(self) -> datetime:
        return self.clock.now()

    async def unlimited(self, user: Principal) -> bool:
        """Admins and learners with an active paid plan have no quota."""
        return user.is_admin or has_paid_plan(await self.entitlements.get(user.user_id), self.now())


async def ctx(request: Request) -> Context:  # async: no threadpool hop per request
    context: Context = request.app.state.ctx
    return context


Ctx = Annotated[Context, Depends(ctx)]
