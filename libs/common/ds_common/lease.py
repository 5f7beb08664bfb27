"""One active process among replicas: a lease in Redis, renewed while its holder lives.

For the loops that must run once per service however many replicas run (the outbox relay, the
progress journal's compactor): every replica runs `keep`, and only the holder works. A holder
that dies stops renewing, and another replica takes the lease over once it expires (`ttl_s`).

Fencing: the holder counts its lease as held only until `ttl_s / 2` after the renewal it sent
last, so a holder that stalls (a pause, a lost connection) stops working before the lease can
expire and pass to another replica. What a stalled holder was doing when it stopped may finish
(a relay's publish in flight): at worst an event is published twice, which consumers absorb.
A Redis restart loses the lease: holders find out at their next renewal, and one takes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ds_common.waiting import unless_stopped

logger = logging.getLogger("ds.lease")

_TAKE_OR_RENEW = """
-- KEYS: the lease; ARGV: this holder's id, ttl ms. Returns 1 if this holder has the lease.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    def __init__(self, redis: Redis, key: str, *, ttl_s: float = 10.0) -> None:
        self.redis = redis
        self.key = key
        self.ttl_s = ttl_s
        self.holder = f"{uuid.uuid4().hex[:12]}"
        self._valid_until = 0.0  # monotonic
        self._changed = asyncio.Event()

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    async def try_take(self) -> bool:
        """Take the lease if it is free, or renew it if this process holds it."""
        sent = time.monotonic()
        try:
            taken = bool(await self.redis.eval(_TAKE_OR_RENEW, 1, self.key, self.holder, int(self.ttl_s * 1000)))
        except RedisError:
            taken = False
        was = self.held
        self._valid_until = sent + self.ttl_s / 2 if taken else 0.0
        if taken != was:
            logger.info("lease %s %s", self.key, "taken" if taken else "lost", extra={"holder": self.holder})
            self._changed.set()
        return taken

    async def keep(self, stop: asyncio.Event) -> None:
        """Take the lease when free and renew it while held, until `stop`; then let it go."""
        try:
            while not stop.is_set():
                await self.try_take()
                await unless_stopped(stop, asyncio.sleep(self.ttl_s / 5))
        finally:
            self._valid_until = 0.0
            with contextlib.suppress(RedisError):
                await self.redis.eval(_RELEASE, 1, self.key, self.holder)

    async def wait_until_held(self, stop: asyncio.Event) -> None:
        """Return once this process holds the lease (or `stop` is set)."""
        while not self.held and not stop.is_set():
            self._changed.clear()
            await unless_stopped(stop, _wait(self._changed, self.ttl_s / 5))


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
