"""One upstream fetch per key, however many requests miss at once.

Within a process, concurrent callers share one task (an in-process future). Across processes
(API workers, the consumer's prefetch), a Redis lock (`SET NX EX`, released only by its owner)
elects one fetcher; the others wait for the lock to go away and then re-run `work`, which first
re-reads the store and so finds the result instead of fetching again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ds_common.errors import ServiceUnavailable
from ds_common.redis import KeySpace
from redis.asyncio import Redis

T = TypeVar("T")

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SingleFlight:
    def __init__(self, redis: Redis, keys: KeySpace, *, lock_ttl_s: float = 60.0, wait_s: float = 20.0,
                 poll_s: float = 0.1) -> None:
        self.redis = redis
        self.keys = keys
        self.lock_ttl_s = lock_ttl_s
        self.wait_s = wait_s
        self.poll_s = poll_s
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._release: Any = redis.register_script(_RELEASE)

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._elected(key, work))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shield: a caller that goes away (client disconnect) does not cancel the others' fetch.
        return await asyncio.shield(task)

    async def _elected(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        lock = self.keys("fetch-lock", key)
        deadline = time.monotonic() + self.wait_s
        while True:
            token = uuid.uuid4().hex
            if await self.redis.set(lock, token, nx=True, px=int(self.lock_ttl_s * 1000)):
                try:
                    return await work()
                finally:
                    await self._release(keys=[lock], args=[token])
            while await self.redis.exists(lock):
                if time.monotonic() > deadline:
                    raise ServiceUnavailable("The transcript is still being fetched; please retry shortly",
                                             headers={"Retry-After": "5"}, retry_after=5)
                await asyncio.sleep(self.poll_s)
