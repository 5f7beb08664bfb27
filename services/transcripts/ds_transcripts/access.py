"""Server-side access control for transcripts (legacy W12).

The read path stays fast and never refuses a learner who has just registered a video:

1. admins pass at once;
2. a positive decision is reused in-process for `access_cache_ttl_s` (and never past the plan's
   expiry or the quota cycle's end);
3. the projections this service keeps from events answer with two `_id` lookups: `entitlements`
   (from `plan.changed`, expiry checked at read time) and `access` (from `video.started`: the user
   registered this video in a cycle that ends at `cycle_end`);
4. on a miss progress is asked, authoritatively, with the learner's own token: a video the learner
   registered a moment ago (its event still on its way), or one not registered yet, which a free
   learner whose cycle has room may read before confirming it (a bounded number a day: the front
   end loads the transcript as it opens a video, before the quota question).

Refusals are never cached, so the moment progress has registered the video the learner gets in.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from ds_common.auth import Principal
from ds_common.clock import Clock, SystemClock
from ds_common.errors import Forbidden
from ds_common.mongo import Document
from ds_common.redis import RateLimiter
from pymongo.asynchronous.database import AsyncDatabase

from ds_transcripts.adapters.progress import ProgressClient
from ds_transcripts.adapters.store import ACCESS, ENTITLEMENTS
from ds_transcripts.domain.access import paid_until, registered_until

MAX_DECISIONS = 50_000
REFUSALS = {  # progress's reasons (its /internal/access), as the learner reads them
    "quota_exceeded": "Your free quota for this cycle is used up; upgrade your plan to practise this video",
    "preview_limit": "You opened many new videos today; start this video to read its transcript",
}


def access_id(user_id: str, channel_id: str, video_id: str) -> str:
    return f"{user_id}:{channel_id}:{video_id}"


class AccessControl:
    def __init__(self, db: AsyncDatabase[Document], progress: ProgressClient, *, ttl_s: float = 30.0,
                 limiter: RateLimiter | None = None, checks_per_minute: int = 120, clock: Clock | None = None) -> None:
        self.db = db
        self.progress = progress
        self.limiter = limiter
        self.checks_per_minute = checks_per_minute
        self.ttl_s = ttl_s
        self.clock = clock or SystemClock()
        self._allowed: dict[tuple[str, str, str], float] = {}  # → monotonic deadline

    async def ensure_allowed(self, principal: Principal, token: str, channel_id: str, video_id: str) -> None:
        if principal.is_admin:
            return
        key = (principal.user_id, channel_id, video_id)
        deadline = self._allowed.get(key)
        if deadline is not None and deadline > time.monotonic():
            return
        now = self.clock.now()
        entitlement, registration = await asyncio.gather(
            self.db[ENTITLEMENTS].find_one({"_id": principal.user_id}),
            self.db[ACCESS].find_one({"_id": access_id(*key)}))
        until = paid_until((entitlement or {}).get("entitlement"), now) or registered_until(registration, now)
        if until is None:
            if self.limiter is not None:  # a refused learner retrying in a loop must not flood progress
                await self.limiter.hit("access-check", principal.user_id, limit=self.checks_per_minute, window_s=60)
            answer = await self.progress.access(token, channel_id, video_id)
            if not answer.allowed:
                raise Forbidden(REFUSALS.get(answer.reason, REFUSALS["quota_exceeded"]),
                                reason=answer.reason or "quota_exceeded")
        self._remember(key, now, until)

    def _remember(self, key: tuple[str, str, str], now: datetime, until: datetime | None) -> None:
        ttl = self.ttl_s if until is None else min(self.ttl_s, (until - now).total_seconds())
        if len(self._allowed) >= MAX_DECISIONS:
            self._allowed.clear()
        self._allowed[key] = time.monotonic() + max(ttl, 0.0)
