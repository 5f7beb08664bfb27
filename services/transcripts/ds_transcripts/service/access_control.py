"""Server-side access control for transcripts (legacy W12); the rules are in domain/access.py.

The read path stays fast and never refuses a learner who has just registered a video:

1. admins pass at once;
2. a positive decision is reused in-process for `ttl_s` (and never past the plan's expiry or the
   quota cycle's end; a video the catalog hides meanwhile stays readable for at most that long);
3. the projections this service keeps from events answer with four `_id` lookups
   (adapters/projections.py: the entitlement from `plan.changed`, the registration from
   `video.started`, the channel's and the video's visibility from the catalog's events): what
   the catalog does not show learners is not found, whatever their plan;
4. on a miss progress is asked, authoritatively, with the learner's own token: a video the learner
   registered a moment ago (its event still on its way), or one not registered yet, which a free
   learner whose cycle has room may read before confirming it (a bounded number a day: the front
   end loads the transcript as it opens a video, before the quota question).

Refusals are never cached, so the moment progress has registered the video the learner gets in.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Protocol

from ds_common.auth import Principal
from ds_common.clock import Clock, SystemClock
from ds_common.redis import RateLimiter

from ds_transcripts.adapters.progress import AccessAnswer
from ds_transcripts.adapters.projections import Standing
from ds_transcripts.domain.access import allowed_until, refusal, shown
from ds_transcripts.domain.transcript import VideoNotFound

MAX_DECISIONS = 50_000


class Projections(Protocol):
    """The access projections (adapters/projections.py AccessProjections)."""

    async def lookup(self, user_id: str, channel_id: str, video_id: str) -> Standing: ...


class Progress(Protocol):
    """progress's authoritative answer (adapters/progress.py ProgressClient)."""

    async def access(self, token: str, channel_id: str, video_id: str) -> AccessAnswer: ...


class AccessControl:
    def __init__(self, projections: Projections, progress: Progress, *, ttl_s: float = 30.0,
                 limiter: RateLimiter | None = None, checks_per_minute: int = 120, clock: Clock | None = None) -> None:
        self.projections = projections
        self.progress = progress
        self.limiter = limiter
        self.checks_per_minute = checks_per_minute
        self.ttl_s = ttl_s
        self.clock = clock or SystemClock()
        self._allowed: dict[tuple[str, str, str], float] = {}  # → monotonic deadline

    async def ensure_allowed(self, principal: Principal, channel_id: str, video_id: str) -> None:
        """Returns if the caller may read the video's transcript; raises `AccessRefused` (or
        `VideoNotFound`, for what the catalog does not show learners) otherwise."""
        if principal.is_admin:
            return
        key = (principal.user_id, channel_id, video_id)
        deadline = self._allowed.get(key)
        if deadline is not None and deadline > time.monotonic():
            return
        now = self.clock.now()
        standing = await self.projections.lookup(*key)
        if not shown(standing.channel, standing.video):
            raise VideoNotFound("Video not found")
        until = allowed_until(standing.entitlement, standing.registration, now)
        if until is None:
            if self.limiter is not None:  # a refused learner retrying in a loop must not flood progress
                await self.limiter.hit("access-check", principal.user_id, limit=self.checks_per_minute, window_s=60)
            answer = await self.progress.access(principal.token, channel_id, video_id)
            if not answer.allowed:
                raise refusal(answer.reason)
        self._remember(key, now, until)

    async def ensure_shown(self, principal: Principal, channel_id: str, video_id: str) -> None:
        """Raises `VideoNotFound` for a learner asking about what the catalog does not show them."""
        if not principal.is_admin:
            standing = await self.projections.lookup(principal.user_id, channel_id, video_id)
            if not shown(standing.channel, standing.video):
                raise VideoNotFound("Video not found")

    def _remember(self, key: tuple[str, str, str], now: datetime, until: datetime | None) -> None:
        ttl = self.ttl_s if until is None else min(self.ttl_s, (until - now).total_seconds())
        if len(self._allowed) >= MAX_DECISIONS:
            self._allowed.clear()
        self._allowed[key] = time.monotonic() + max(ttl, 0.0)
