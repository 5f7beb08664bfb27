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

from ds_progress.adapters import copies
from ds_progress.adapters.cache import ProgressCache
from ds_progress.adapters.catalog import CatalogView
from ds_progress.adapters.collections import QUOTA
from ds_progress.adapters.journal import JournalWriter, ProgressReader
from ds_progress.adapters.records import Learner, MissedWords, QuotaLedger, Users
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
    users: Users
    catalog: CatalogView
    words: MissedWords
    stats: PracticeStats
    http: httpx.AsyncClient
    nudge: OutboxNudge

    @classmethod
    def build(cls, settings: Settings, stores: Stores, clock: Clock, nudge: OutboxNudge,
              http: httpx.AsyncClient) -> Context:
        db = stores.db
        listings = copies.listings(stores)
        return cls(
            settings=settings, clock=clock, nudge=nudge,
            journal=JournalWriter(db),
            reader=ProgressReader(db, listings),
            cache=ProgressCache(stores.redis, KeySpace(settings.service_name), listings),
            quota=QuotaLedger(db, copies.learners(stores), limit=settings.free_videos_per_cycle,
                              cycle_days=settings.cycle_days),
            users=Users(db), catalog=CatalogView(db, copies.catalog(stores)),
            words=MissedWords(db, copies.missed_words(stores)),
            stats=PracticeStats(db),
            http=http,
        )

    async def nudge_relay(self, user_id: str) -> None:
        await self.nudge.nudge(QUOTA, user_id)

    def now(self) -> datetime:
        return self.clock.now()

    def unlimited(self, user: Principal, learner: Learner) -> bool:
        """Admins and learners with an active paid plan have no quota."""
        return user.is_admin or has_paid_plan(learner.entitlement, self.now())


def context_of(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


async def ctx(request: Request) -> Context:  # async: no threadpool hop per request
    return context_of(request)


Ctx = Annotated[Context, Depends(ctx)]
