"""DocumentCache on the real Redis: read-through, absent documents, forgetting, and a fill that
races a write."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from ds_common.cache import DocumentCache
from ds_common.mongo import Document
from redis.asyncio import Redis

pytestmark = pytest.mark.integration


class Store:
    """A stand-in for the database behind the cache that counts its reads."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.reads = 0

    async def load(self, ids: list[str]) -> dict[str, Document | None]:
        self.reads += len(ids)
        return {i: self.docs.get(i) for i in ids}


def cache_for(redis: Redis, **options: int) -> DocumentCache:
    return DocumentCache(redis, f"test{time.time_ns()}", "things", **options)


async def test_a_document_is_read_from_the_store_once_then_from_redis(redis: Redis) -> None:
    cache, store = cache_for(redis), Store()
    at = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
    store.docs["a"] = {"_id": "a", "at": at, "videos": ["c:v"], "n": 3}
    assert await cache.get("a", store.load) == store.docs["a"]
    assert await cache.get("a", store.load) == {"_id": "a", "at": at, "videos": ["c:v"], "n": 3}
    assert store.reads == 1
    assert 0 < await redis.ttl(cache.value_key("a")) <= cache.ttl_s


async def test_absent_documents_are_cached_as_absent(redis: Redis) -> None:
    cache, store = cache_for(redis), Store()
    assert await cache.get("nobody", store.load) is None
    assert await cache.get("nobody", store.load) is None
    assert store.reads == 1


async def test_get_many_reads_only_the_missing_ones(redis: Redis) -> None:
    cache, store = cache_for(redis), Store()
    store.docs = {"a": {"n": 1}, "b": {"n": 2}}
    await cache.get("a", store.load)
    store.reads = 0
    assert await cache.get_many(["a", "b", "c", "a"], store.load) == {"a": {"n": 1}, "b": {"n": 2}, "c": None}
    assert store.reads == 2


async def test_a_forgotten_document_is_read_again(redis: Redis) -> None:
    cache, store = cache_for(redis), Store()
    store.docs["a"] = {"n": 1}
    await cache.get("a", store.load)
    store.docs["a"] = {"n": 2}  # a writer changes the store, then forgets the copy
    await cache.forget("a")
    assert await cache.get("a", store.load) == {"n": 2}
    assert await cache.get("a", store.load) == {"n": 2}
    assert store.reads == 2


async def test_a_fill_that_raced_a_write_is_not_cached(redis: Redis) -> None:
    """A reader reads the old document; a writer then changes it and forgets the copy; the
    reader's fill, arriving last, must not bring the old document back."""
    cache, store = cache_for(redis), Store()
    store.docs["a"] = {"n": 1}

    async def slow_old_read(ids: list[str]) -> dict[str, Document | None]:
        old = await store.load(ids)
        store.docs["a"] = {"n": 2}
        await cache.forget("a")
        return old

    assert await cache.get("a", slow_old_read) == {"n": 1}  # this reader answers what it read
    assert await redis.get(cache.value_key("a")) is None
    assert await cache.get("a", store.load) == {"n": 2}


async def test_copies_expire(redis: Redis) -> None:
    cache, store = cache_for(redis, ttl_s=1), Store()
    store.docs["a"] = {"n": 1}
    await cache.get("a", store.load)
    store.docs["a"] = {"n": 2}  # a writer that never forgot (it stopped after its store write)
    deadline = time.monotonic() + 3
    while await cache.get("a", store.load) != {"n": 2}:
        assert time.monotonic() < deadline, "the stale copy expired"
        await asyncio.sleep(0.1)


async def test_a_local_copy_serves_for_its_life_and_this_process_forgets_it_at_once(redis: Redis) -> None:
    scope = f"test{time.time_ns()}"
    local = DocumentCache(redis, scope, "channels", local_ttl_s=0.5)
    other_process = DocumentCache(redis, scope, "channels")
    store = Store()
    store.docs["c"] = {"videos": ["v1"]}
    await local.get("c", store.load)
    await redis.delete(local.value_key("c"))  # from now on, only the process memory has it
    assert await local.get("c", store.load) == {"videos": ["v1"]}
    assert store.reads == 1

    store.docs["c"] = {"videos": ["v1", "v2"]}
    await other_process.forget("c")  # a writer elsewhere: seen once the local life is over
    assert await local.get("c", store.load) == {"videos": ["v1"]}
    await asyncio.sleep(0.6)
    assert await local.get("c", store.load) == {"videos": ["v1", "v2"]}

    store.docs["c"] = {"videos": ["v2"]}
    await local.forget("c")  # a writer in this process: seen at once
    assert await local.get("c", store.load) == {"videos": ["v2"]}
