"""Ready-to-send transcript bytes in Redis, versioned so a slow writer never overwrites news.

Each entry is `<version>\\n<json>`; the Lua script stores an entry only if its version is newer than
the stored one, so a reader filling the cache from an old read cannot bring back a transcript an
editor just changed. An empty payload means "not servable from the cache, ask the store"
(removed videos, pending fetches). A tiny per-process LRU with a one-second life sits in front,
because a popular transcript is read many times a second.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import orjson
from ds_common.mongo import Document
from ds_common.redis import KeySpace
from redis.asyncio import Redis

_PUT_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local nl = string.find(cur, '\\n', 1, true)
  local v = nl and tonumber(string.sub(cur, 1, nl - 1))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '\\n' .. ARGV[2], 'EX', ARGV[3])
return 1
"""

NOT_CACHED = b""


def render(doc: Document) -> bytes:
    """The legacy response of GET video-transcript, serialised once."""
    return orjson.dumps({"channel_id": doc["channel_id"], "video_id": doc["video_id"],
                         "title": doc.get("title", ""), "transcript": doc.get("transcript") or []})


class TranscriptCache:
    def __init__(self, redis: Redis, keys: KeySpace, *, ttl_s: int = 86_400, local_size: int = 512,
                 local_ttl_s: float = 1.0) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s
        self.local_size = local_size
        self.local_ttl_s = local_ttl_s
        self._local: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._put: Any = redis.register_script(_PUT_IF_NEWER)

    def key(self, channel_id: str, video_id: str) -> str:
        return self.keys("tx", channel_id, video_id)

    async def get(self, channel_id: str, video_id: str) -> bytes | None:
        """The response bytes; None when the store must be asked."""
        key = self.key(channel_id, video_id)
        local = self._local.get(key)
        if local is not None and local[0] > time.monotonic():
            return local[1]
        raw = await self.redis.get(key)
        if not isinstance(raw, bytes):  # None (a miss); the client never decodes responses
            return None
        payload = raw[raw.index(b"\n") + 1:]
        if not payload:
            return None
        self._remember(key, payload)
        return payload

    async def put(self, doc: Document) -> None:
        """Store what a reader should now get for this document (bytes when ready, else a marker)."""
        key = self.key(doc["channel_id"], doc["video_id"])
        payload = render(doc) if doc.get("status") == "ready" else NOT_CACHED
        self._local.pop(key, None)
        await self._put(keys=[key], args=[int(doc["version"]), payload, self.ttl_s])

    def _remember(self, key: str, payload: bytes) -> None:
        self._local[key] = (time.monotonic() + self.local_ttl_s, payload)
        self._local.move_to_end(key)
        while len(self._local) > self.local_size:
            self._local.popitem(last=False)
