"""Practice-time statistics: the learner's own, and the admin usage report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ds_common.clock import Clock

from ds_progress.adapters.stats import PracticeStats
from ds_progress.adapters.users import UserDirectory
from ds_progress.domain.statistics import duration_view, usage_report


class Statistics:
    def __init__(self, stats: PracticeStats, users: UserDirectory, clock: Clock) -> None:
        self.stats = stats
        self.users = users
        self.clock = clock

    async def duration(self, user_id: str) -> dict[str, Any]:
        return duration_view(await self.stats.daily(user_id))

    async def usage(self, days: int) -> dict[str, Any]:
        now = self.clock.now()
        activity = await self.stats.usage(days, now)
        distinct = await self.stats.distinct_active(days, now)
        new_users = await self.users.new_per_day(now - timedelta(days=days - 1))
        return usage_report(days, now, activity, new_users, distinct)
