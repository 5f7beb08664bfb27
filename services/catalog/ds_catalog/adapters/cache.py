"""Ready-to-send JSON bytes for the hot public reads, kept in process and validated in Redis.

FerretDB scans every non-`_id` query, so the channel list, each channel's video list and the
random-video pool are built from Mongo once and then served as bytes (the pool: kept as built). Each entry belongs to a
*scope* ("channels", "videos:<channel>", "pool") whose version counter lives in Redis: a writer
(any API worker, or the consumer process) bumps the scope after its Mongo write, and every read
compares the version it finds in Redis with the one its bytes were built at. One Redis GET per
request keeps every worker consistent right after a write. The version is read *before* the
build, so bytes built from data older than a concurrent write carry the older version and are
rebuilt on the next read. Concurrent misses of one entry share a single build, so a burst of
requests right after a write costs one Mongo query per worker, not one per request. If Redis is
unreachable the reads go to Mongo directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from ds_common.redis import AutoPipeline, KeySpace
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger("ds.catalog.cache")

CHANNELS = "channels"  # the channel list (names, visibility, each channel's video ids)
POOL = "pool"  # the public channels' lists of public videos (random-video)


def videos_scope(channel_id: str) -> str:
    return f"videos:{channel_id}"


class ReadCache:
    def __init__(self, redis: Redis, keys: KeySpace, *, max_entries: int = 2048) -> None:
        self.redis = redis
        self.keys = keys
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[bytes, Any]] = OrderedDict()
        self._building: dict[tuple[str, bytes], asyncio.Future[Any]] = {}
        self._reads = AutoPipeline(redis)  # every list request reads a version: share round trips

    def _version_key(self, scope: str) -> str:
        return self.keys("cache", "version", scope)

    async def get_or_build(self, scope: str, key: str, build: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value of `key` in `scope`, rebuilt when a write has bumped the scope."""
        try:
            version_key = self._version_key(scope)
            version = await self._reads.run(lambda r: r.get(version_key)) or b"0"
        except RedisError:
            logger.warning("cache version unavailable; reading through", exc_info=True)
            return await build()
        entry_key = f"{scope}|{key}"
        entry = self._entries.get(entry_key)
        if entry is not None and entry[0] == version:
            return entry[1]
        pending = self._building.get((entry_key, version))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._building[(entry_key, version)] = future
        try:
            value = await build()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        except BaseException:  # cancelled: the waiters retry on their own
            future.cancel()
            raise
        finally:
            del self._building[(entry_key, version)]
        future.set_result(value)
        self._entries[entry_key] = (version, value)
        self._entries.move_to_end(entry_key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    async def invalidate(self, *scopes: str) -> None:
        """Bump `scopes` after a write; a failure is logged (entries then live until the next bump)."""
        for entry_key in [k for k in self._entries if k.split("|", 1)[0] in scopes]:
            del self._entries[entry_key]
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for scope in scopes:
                    pipe.incr(self._version_key(scope))
                await pipe.execute()
        except RedisError:
            logger.error("cache invalidation failed for %s", scopes, exc_info=True)
