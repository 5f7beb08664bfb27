"""The free quota's use cases: the quota check, registering a video, and the access question
transcripts asks about a transcript."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ds_common.auth import Principal
from ds_common.clock import Clock, to_ms, utc_midnight
from ds_common.events.contracts import paid_until

from ds_progress.adapters.cache import ProgressCache
from ds_progress.adapters.quota import Learner, QuotaLedgers
from ds_progress.domain.quota import current_cycle, decide, listed, registration, video_key
from ds_progress.settings import Settings

Registration = Literal["new", "known"]


class Quota:
    def __init__(self, ledgers: QuotaLedgers, cache: ProgressCache, settings: Settings, clock: Clock) -> None:
        self.ledgers = ledgers
        self.cache = cache
        self.limit = settings.free_videos_per_cycle
        self.cycle_days = settings.cycle_days
        self.previews_per_day = settings.preview_videos_per_day
        self.clock = clock

    def unlimited(self, user: Principal, learner: Learner) -> bool:
        """Admins and learners with a paid plan now have no quota."""
        return user.is_admin or paid_until(learner.entitlement, self.clock.now()) is not None

    async def check(self, user: Principal, channel_id: str, video_id: str) -> dict[str, Any]:
        """The quota answer the dictation page reads before the learner confirms."""
        learner = await self.ledgers.learner(user.user_id)
        if self.unlimited(user, learner):
            return {"used": 0, "limit": -1, "canProceed": True, "notifyQuota": False}
        cycle = current_cycle(learner.quota, self.clock.now(), self.cycle_days)
        decision = decide(cycle, (learner.quota or {}).get("history", []), video_key(channel_id, video_id),
                          self.limit)
        return {"used": len(cycle.videos), "limit": self.limit, "canProceed": decision.can_proceed,
                "notifyQuota": decision.counts, "startDate": to_ms(cycle.start), "endDate": to_ms(cycle.end)}

    async def start(self, user: Principal, learner: Learner, channel_id: str, video_id: str,
                    now: datetime) -> Registration:
        """Register the video (a registration, or the first save of it): counted against a free
        learner's cycle while it has room, QuotaExceeded when it has none; a video registered
        already writes nothing (the front end repeats the call)."""
        unlimited = self.unlimited(user, learner)
        if listed(learner.quota, video_key(channel_id, video_id), unlimited=unlimited):
            return "known"  # the copy lists it: a ledger only grows

        def decision(ledger: dict[str, Any] | None) -> Any:
            return registration(ledger, user.user_id, channel_id, video_id, now, unlimited=unlimited,
                                limit=self.limit, cycle_days=self.cycle_days)

        return "new" if (await self.ledgers.change(user.user_id, decision)).changed else "known"

    async def may_read(self, user: Principal, channel_id: str, video_id: str) -> dict[str, Any]:
        """May this learner read the video's transcript? Registered videos always; any other while
        the free cycle has room, up to `preview_videos_per_day` distinct ones a day (the front end
        reads the transcript as it opens a video, before the quota question)."""
        if user.is_admin:
            return {"allowed": True, "reason": "admin"}
        learner = await self.ledgers.learner(user.user_id)
        if self.unlimited(user, learner):
            return {"allowed": True, "reason": "paid"}
        now = self.clock.now()
        key = video_key(channel_id, video_id)
        verdict = decide(current_cycle(learner.quota, now, self.cycle_days),
                         (learner.quota or {}).get("history", []), key, self.limit)
        if not verdict.counts:
            return {"allowed": True, "reason": "registered"}
        if not verdict.can_proceed:
            return {"allowed": False, "reason": "quota_exceeded"}
        if await self.cache.preview(user.user_id, to_ms(utc_midnight(now)), key, self.previews_per_day):
            return {"allowed": True, "reason": "preview"}
        return {"allowed": False, "reason": "preview_limit"}
