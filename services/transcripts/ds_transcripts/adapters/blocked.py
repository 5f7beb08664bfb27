"""The service-wide "YouTube is refusing us" flag in Redis: while it is set, no fetch of any
video goes upstream (each would only prolong the block)."""

from __future__ import annotations

from ds_common.redis import KeySpace
from redis.asyncio import Redis


class UpstreamBlock:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self.redis = redis
        self.key = keys("youtube-blocked")

    async def remaining_s(self) -> int:
        """Seconds the block still lasts (0: not blocked)."""
        return max(int(await self.redis.ttl(self.key)), 0)

    async def block(self, reason: str, seconds: int) -> None:
        await self.redis.set(self.key, reason, ex=seconds)
