"""AutoPipeline on the real Redis: concurrent commands share a round trip, each caller gets its own
result or error, a lost script is loaded again, and a lost connection fails every caller."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from ds_common.redis import AutoPipeline
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

pytestmark = pytest.mark.integration


class CountingRedis:
    """The real client, counting the pipelines opened and the commands sent alone."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.pipelines = 0
        self.alone = 0

    def pipeline(self, **options: Any) -> Any:
        self.pipelines += 1
        return self.redis.pipeline(**options)

    def __getattr__(self, name: str) -> Any:
        self.alone += 1
        return getattr(self.redis, name)


def prefix() -> str:
    return f"test:auto:{time.time_ns()}"


async def test_commands_of_one_turn_share_one_pipeline_and_get_their_own_results(redis: Redis) -> None:
    counting = CountingRedis(redis)
    auto, key = AutoPipeline(counting), prefix()  # type: ignore[arg-type]
    results = await asyncio.gather(*(auto.run(lambda r, i=i: r.incrby(f"{key}:{i % 3}", i)) for i in range(30)))
    assert counting.pipelines == 1 and counting.alone == 0
    expected, totals = [], [0, 0, 0]
    for i in range(30):
        totals[i % 3] += i
        expected.append(totals[i % 3])
    assert results == expected
    assert [int(await redis.get(f"{key}:{n}")) for n in range(3)] == totals


async def test_a_command_alone_in_its_turn_goes_straight_to_the_client(redis: Redis) -> None:
    counting = CountingRedis(redis)
    auto, key = AutoPipeline(counting), prefix()  # type: ignore[arg-type]
    assert await auto.run(lambda r: r.set(key, "1", get=True)) is None
    assert await auto.run(lambda r: r.set(key, "2", get=True)) == b"1"
    assert counting.pipelines == 0 and counting.alone == 2


async def test_a_failing_command_fails_only_its_caller(redis: Redis) -> None:
    auto, key = AutoPipeline(redis), prefix()
    await redis.set(f"{key}:text", "not a number")
    good, bad, other = await asyncio.gather(
        auto.run(lambda r: r.incr(f"{key}:n")), auto.run(lambda r: r.incr(f"{key}:text")),
        auto.run(lambda r: r.incr(f"{key}:n")), return_exceptions=True)
    assert (good, other) == (1, 2)
    assert isinstance(bad, ResponseError)


async def test_a_script_redis_has_lost_is_loaded_and_run(redis: Redis) -> None:
    auto, key = AutoPipeline(redis), prefix()
    script = redis.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    await redis.script_flush()  # as after a Redis restart: no script is known
    assert await auto.script(script, keys=[key], args=[5]) == 5
    assert await asyncio.gather(*(auto.script(script, keys=[key], args=[1]) for _ in range(4))) == [6, 7, 8, 9]


async def test_a_lost_connection_fails_every_command_of_the_pipeline() -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    auto = AutoPipeline(unreachable)
    try:
        outcomes = await asyncio.gather(*(auto.run(lambda r: r.get("k")) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(o, RedisConnectionError) for o in outcomes)
        with pytest.raises(RedisConnectionError):
            await auto.run(lambda r: r.get("k"))
    finally:
        await unreachable.aclose()


async def test_a_cancelled_caller_does_not_disturb_the_others(redis: Redis) -> None:
    auto, key = AutoPipeline(redis), prefix()
    cancelled = asyncio.ensure_future(auto.run(lambda r: r.incr(key)))
    kept = asyncio.ensure_future(auto.run(lambda r: r.incr(key)))
    await asyncio.sleep(0)  # both queued in this turn
    cancelled.cancel()
    assert await kept == 2  # the command was queued before the cancel, so it still ran
    assert cancelled.cancelled()
