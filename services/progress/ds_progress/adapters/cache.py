"""Redis: the hot-read copy of progress, the practice-time totals shown after a save, and each
learner's practice horizon, which clamps the practice a save may claim (W20).

Redis is never the only copy: the progress cache is filled from the store on a miss. A save bumps
a generation counter and updates the cached hash only if it exists; a fill writes only if the
generation it saw before reading the store is unchanged, so a fill racing a save can never cache
a state older than that save.
"""

from __future__ import annotations

import orjson
from ds_common.cache import DocumentCache
from ds_common.mongo import Document
from ds_common.redis import AutoPipeline, KeySpace
from redis.asyncio import Redis

from ds_progress.domain.practice import SAVE_SLACK_SECONDS

PROGRESS_TTL_S = 24 * 3600
TOTALS_TTL_S = 3600
HORIZON_TTL_S = 24 * 3600
PREVIEW_TTL_S = 2 * 24 * 3600

_CREDIT = """
-- domain/practice.py `credit`, atomically per learner.
-- KEYS: the learner's practice horizon (epoch seconds up to which practice has been credited)
-- ARGV: now, claimed seconds, slack seconds, ttl, the horizon to start from when there is none
-- ('' when not known yet). Returns the whole seconds credited, or -1: no horizon, none given.
local now, claimed = tonumber(ARGV[1]), tonumber(ARGV[2])
local horizon = redis.call('GET', KEYS[1]) or ARGV[5]
if horizon == '' then return -1 end
local start = math.max(tonumber(horizon), now - claimed)
local credited = math.floor(math.max(0, math.min(claimed, now + tonumber(ARGV[3]) - start)) + 0.5)
redis.call('SET', KEYS[1], string.format('%.3f', start + credited), 'EX', ARGV[4])
return credited
"""

_PREVIEW = """
-- KEYS: the videos a learner read before registering them, this UTC day (a set)
-- ARGV: the video key, the daily cap, ttl. Returns 1 if the learner may read it.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1]); redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

_SAVE = """
-- KEYS: the progress hash, its generation counter, the learner's totals hash, the learner's
--       listing copy and its generation (ds_common.cache: a save forgets it, as a writer does)
-- ARGV: ttl, seconds, n, the n totals fields, then the saved state's hash fields (a JSON array)
redis.call('INCR', KEYS[2]); redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[5]); redis.call('EXPIRE', KEYS[5], ARGV[1]); redis.call('DEL', KEYS[4])
local n = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[4 + n]))); redis.call('EXPIRE', KEYS[1], ARGV[1])
end
if redis.call('EXISTS', KEYS[3]) == 0 then return false end
local out = {}
for i = 1, n do out[i] = redis.call('HINCRBY', KEYS[3], ARGV[3 + i], ARGV[2]) end
return out
"""
_FILL = """
local gen = redis.call('GET', KEYS[2]) or ''
if gen ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(cjson.decode(ARGV[3]))); redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def state_fields(state: Document) -> bytes:
    """A progress state as hash fields, `i:<index>` inputs, then position, completion, names: one
    flat JSON array, which the scripts decode (one argument instead of two per field, whose
    encoding by redis-py cost more than the rest of the call)."""
    flat = ["_", "1"]
    for idx, text in (state.get("input") or {}).items():
        flat += [f"i:{idx}", text]
    for field, short in (("current_time", "t"), ("completion", "p"), ("channel_name", "cn"),
                         ("video_title", "vt"), ("video_link", "vl")):
        if state.get(field) is not None:
            flat += [short, str(state[field])]
    return orjson.dumps(flat)


def parse_state(raw: dict[bytes, bytes]) -> Document:
    state: Document = {"input": {}}
    names = {b"cn": "channel_name", b"vt": "video_title", b"vl": "video_link"}
    for key, value in raw.items():
        if key.startswith(b"i:"):
            state["input"][key[2:].decode()] = value.decode()
        elif key == b"t":
            state["current_time"] = int(value)
        elif key == b"p":
            state["completion"] = float(value)
        elif key in names:
            state[names[key]] = value.decode()
    return state


class ProgressCache:
    def __init__(self, redis: Redis, keys: KeySpace, listings: DocumentCache) -> None:
        self.redis = redis
        self.keys = keys
        self.listings = listings
        self._save = redis.register_script(_SAVE)
        self._pipeline = AutoPipeline(redis)  # saves and reads: many learners' commands per round trip
        self._fill = redis.register_script(_FILL)
        self._credit = redis.register_script(_CREDIT)
        self._preview = redis.register_script(_PREVIEW)

    def _pair(self, key: str) -> list[str]:
        return [self.keys("p", key), self.keys("g", key)]

    async def get(self, key: str) -> Document | None:
        hash_key = self.keys("p", key)
        raw = await self._pipeline.run(lambda r: r.hgetall(hash_key))
        return parse_state(raw) if raw else None

    async def generation(self, key: str) -> str:
        value = await self.redis.get(self.keys("g", key))
        return value.decode() if value else ""

    async def fill(self, key: str, generation: str, state: Document) -> None:
        await self._fill(keys=self._pair(key), args=[generation, PROGRESS_TTL_S, state_fields(state)])

    async def after_save(self, key: str, state_delta: Document, user_id: str, fields: list[str],
                         seconds: int) -> list[int] | None:
        """Update the cached progress, forget the learner's cached listing and add to the cached
        totals in one script call; the totals are None when they are not cached (the caller
        rebuilds them)."""
        totals = await self._pipeline.script(
            self._save, keys=[*self._pair(key), self.keys("totals", user_id), self.listings.value_key(user_id),
                              self.listings.generation_key(user_id)],
            args=[PROGRESS_TTL_S, seconds, len(fields), *fields, state_fields(state_delta)])
        return None if totals is None else [int(v) for v in totals]

    async def credit_practice(self, user_id: str, claimed_s: float, now_s: float,
                              initial_horizon_s: float | None = None) -> int | None:
        """The seconds of a save's claimed practice to credit (W20): at most the wall-clock time not
        credited yet, plus SAVE_SLACK_SECONDS, so saving more often never adds more practice. None
        when the learner has no horizon here (a first save, or none for a day) and no
        `initial_horizon_s` was given: the caller looks it up and asks again."""
        initial = "" if initial_horizon_s is None else f"{initial_horizon_s:.3f}"
        credited = await self._pipeline.script(
            self._credit, keys=[self.keys("horizon", user_id)],
            args=[f"{now_s:.3f}", f"{claimed_s:.3f}", SAVE_SLACK_SECONDS, HORIZON_TTL_S, initial])
        return None if int(credited) < 0 else int(credited)

    async def preview(self, user_id: str, day_ms: int, video: str, per_day: int) -> bool:
        """Whether the learner may read an unregistered video's transcript today (a bounded,
        distinct-video count per day; ephemeral like a rate limit)."""
        return bool(await self._pipeline.script(self._preview, keys=[self.keys("preview", user_id, str(day_ms))],
                                                args=[video, per_day, PREVIEW_TTL_S]))

    async def set_totals(self, user_id: str, totals: dict[str, int]) -> None:
        key = self.keys("totals", user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"_": 1, **totals})
            pipe.expire(key, TOTALS_TTL_S)
            await pipe.execute()
