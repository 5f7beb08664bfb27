"""A Redis copy of store documents that hot read paths ask first (read-through, dropped by writers).

A Redis GET costs a fraction of a store read, and on the test store (FerretDB) a read that is not
an `_id` lookup scans. So a hot path reads the copy, and fills it from the store on a miss. The
value may be a stored document or one derived from several (a learner's progress listing).

Consistency: a writer changes the store, then calls `forget(id)`, which bumps the id's generation
and drops the copy. A reader that misses notes the generation before it reads the store, and
fills only if the generation is still the same (one Lua call), so a fill racing a write never
caches what the store held before that write. Copies also expire after `ttl_s`: that bounds how
long a copy can be stale if a writer stops between its store write and its `forget`.

Absent documents are cached too (as an empty value): a free learner has no entitlement document,
and asking the store for it on every request would defeat the cache. Values are BSON, so dates
and binary survive the round trip.

Reference data that every request reads and that rarely changes (a channel's video ids) can also
be kept in process memory for `local_ttl_s`: other processes then see a change up to that much
later than the next Redis read would (the process that forgets sees it at once). Such documents
are shared by every request of the process: callers read them and never modify them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, cast

import bson
from bson.codec_options import CodecOptions
from redis.asyncio import Redis

from ds_common.mongo import Document
from ds_common.redis import AutoPipeline

Loader = Callable[[list[str]], Awaitable[Mapping[str, Document | None]]]

_FILL = """
-- KEYS: value1, generation1, value2, generation2, ...; ARGV: ttl, then per pair the generation
-- the reader saw before its store read and the value it read
for i = 1, #KEYS, 2 do
  if (redis.call('GET', KEYS[i + 1]) or '') == ARGV[i + 1] then
    redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ARGV[1])
  end
end
return 0
"""
_CODEC: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=UTC)
_ABSENT = b""


def _encode(doc: Document | None) -> bytes:
    return _ABSENT if doc is None else bson.encode(doc)


def _decode(raw: bytes) -> Document | None:
    return None if raw == _ABSENT else bson.decode(raw, codec_options=_CODEC)


class DocumentCache:
    """Copies of one kind of document, under `<scope>:cache:<name>:<id>` (scope: the service and
    its database, so two databases never share copies)."""

    LOCAL_SIZE = 1024  # documents kept in process memory at most (then it starts over)

    def __init__(self, redis: Redis, scope: str, name: str, *, ttl_s: int = 300, local_ttl_s: float = 0) -> None:
        self.redis = redis
        self.prefix = f"{scope}:cache:{name}"
        self.ttl_s = ttl_s
        self.local_ttl_s = local_ttl_s
        self._local: dict[str, tuple[float, Document | None]] = {}  # id -> (until, document)
        self._fill: Any = redis.register_script(_FILL)
        self._reads = AutoPipeline(redis)  # hot paths: concurrent requests' reads share a round trip

    def value_key(self, doc_id: str) -> str:
        return f"{self.prefix}:v:{doc_id}"

    def generation_key(self, doc_id: str) -> str:
        return f"{self.prefix}:g:{doc_id}"

    @staticmethod
    def decode(raw: bytes) -> Document | None:
        """A copy read by other means (e.g. inside a Lua script at `value_key`)."""
        return _decode(raw)

    async def get(self, doc_id: str, load: Loader) -> Document | None:
        return (await self.get_many([doc_id], load))[doc_id]

    async def get_many(self, ids: Sequence[str], load: Loader, *, local: bool = True) -> dict[str, Document | None]:
        """The documents of `ids` (None when absent); `load(missing ids)` reads the store on a miss.
        `local=False` skips the process's own copies (a caller that needs what Redis holds now)."""
        found: dict[str, Document | None] = {}
        if self.local_ttl_s and local:
            now = time.monotonic()
            found = {i: kept[1] for i in ids if (kept := self._local.get(i)) is not None and kept[0] > now}
        ids = [i for i in dict.fromkeys(ids) if i not in found]
        if not ids:
            return found
        value_keys = [self.value_key(i) for i in ids]
        raw = cast("list[bytes | None]", await self._reads.run(lambda r: r.mget(value_keys)))
        found.update((i, _decode(r)) for i, r in zip(ids, raw, strict=True) if r is not None)
        missing = [i for i in ids if i not in found]
        if missing:
            seen = cast("list[bytes | None]", await self.redis.mget([self.generation_key(i) for i in missing]))
            loaded = await load(missing)
            keys: list[str] = []
            args: list[Any] = [self.ttl_s]
            for doc_id, generation in zip(missing, seen, strict=True):
                found[doc_id] = loaded.get(doc_id)
                keys += [self.value_key(doc_id), self.generation_key(doc_id)]
                args += [generation or b"", _encode(found[doc_id])]
            await self._fill(keys=keys, args=args)
        if self.local_ttl_s:
            self._keep({i: found[i] for i in ids})
        return found

    def _keep(self, docs: dict[str, Document | None]) -> None:
        if len(self._local) + len(docs) > self.LOCAL_SIZE:
            self._local.clear()
        until = time.monotonic() + self.local_ttl_s
        self._local.update((i, (until, doc)) for i, doc in docs.items())

    async def forget(self, *ids: str) -> None:
        """Call after a store write that changes these documents."""
        for doc_id in ids:
            self._local.pop(doc_id, None)
        async with self.redis.pipeline(transaction=False) as pipe:
            for doc_id in ids:
                pipe.incr(self.generation_key(doc_id))
                pipe.expire(self.generation_key(doc_id), self.ttl_s)
                pipe.delete(self.value_key(doc_id))
            await pipe.execute()
