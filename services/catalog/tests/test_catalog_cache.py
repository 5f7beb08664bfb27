"""The read cache on real Redis: version checks, single-flight builds, read-through without Redis."""

import asyncio
import uuid

import pytest
from ds_catalog.adapters.cache import ReadCache
from ds_common.redis import KeySpace, make_redis

pytestmark = pytest.mark.integration


def cache_on(redis) -> ReadCache:
    return ReadCache(redis, KeySpace(f"catalogtest{uuid.uuid4().hex[:8]}"), max_entries=2)


async def test_entries_are_rebuilt_after_their_scope_is_bumped_anywhere(redis) -> None:
    one = cache_on(redis)
    two = ReadCache(redis, one.keys)  # another worker of the same service
    builds = []

    async def build() -> bytes:
        builds.append(1)
        return f"v{len(builds)}".encode()

    assert await one.get_or_build("s", "k", build) == b"v1"
    assert await one.get_or_build("s", "k", build) == b"v1"
    await two.invalidate("s")
    assert await one.get_or_build("s", "k", build) == b"v2"
    await one.invalidate("other")
    assert await one.get_or_build("s", "k", build) == b"v2" and len(builds) == 2
    for key in ("a", "b", "c"):  # bounded: the oldest entry goes
        await one.get_or_build("s", key, build)
    assert await one.get_or_build("s", "k", build) == b"v6"


async def test_concurrent_misses_share_one_build(redis) -> None:
    cache = cache_on(redis)
    calls = 0

    async def slow_build() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return b"body"

    results = await asyncio.gather(*(cache.get_or_build("s", "k", slow_build) for _ in range(20)))
    assert results == [b"body"] * 20 and calls == 1

    async def failing() -> bytes:
        await asyncio.sleep(0.05)
        raise RuntimeError("mongo down")

    outcomes = await asyncio.gather(*(cache.get_or_build("s", "x", failing) for _ in range(3)),
                                    return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_without_redis_reads_go_through() -> None:
    broken = make_redis("redis://127.0.0.1:1/0")
    cache = ReadCache(broken, KeySpace("catalogtest"))
    assert await cache.get_or_build("s", "k", lambda: asyncio.sleep(0, result=b"fresh")) == b"fresh"
    await cache.invalidate("s")  # logged, not raised
    await broken.aclose()
