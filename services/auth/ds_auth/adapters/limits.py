"""Rate limits in Redis: ds_common's fixed windows (same keys, same 429), 60 s each."""

from __future__ import annotations

from ds_common.redis import RateLimiter, too_many

WINDOW_S = 60

Bucket = tuple[str, str, int]  # (bucket, subject, limit)


class Limits(RateLimiter):
    """Several buckets per round trip: sign-in and refresh are limited per IP and per account (or
    session) at once, on hot paths."""

    async def limit(self, *buckets: Bucket) -> None:
        """Count one request in every (bucket, subject, limit); 429 if any is over its limit."""
        keys = [self._key(bucket, subject, WINDOW_S) for bucket, subject, _ in buckets]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, WINDOW_S + 1)
            replies = await pipe.execute()
        if any(int(count) > limit for count, (_, _, limit) in zip(replies[::2], buckets, strict=True)):
            raise too_many(WINDOW_S)

    async def refuse_if_failing(self, bucket: str, subject: str, limit: int) -> None:
        """429 once `subject` has `limit` failures counted (`failed`) in this window."""
        await self.refuse_if_over(bucket, subject, limit=limit, window_s=WINDOW_S)

    async def failed(self, bucket: str, subject: str) -> None:
        await self.count(bucket, subject, window_s=WINDOW_S)
