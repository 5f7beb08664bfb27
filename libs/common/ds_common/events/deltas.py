"""Summed deltas applied at most once per event, in one write per document, without the document
growing with every event (`apply_once_by_event_id` keeps every id it applied).

For a projection of one topic fed in batches (a `Batched` handler): many events of one document,
say a learner's practice seconds of one day, become one `$inc`. Two guards, written with the
increments, make each event count once:

- `_o`: per partition, the highest offset applied. A consumer batch replayed after a crash (its
  offsets were not committed) is skipped exactly, however large it was.
- `_recent`: the ids of the last `keep` events applied. An event a relay published twice (it
  crashed between publishing a round and recording it) has a later offset; the same relay round
  put it a handful of events apart from the first copy, well within the window.

Each write is guarded by the document's version (`_v`); FerretDB, the test store, has no
`$push` with `$slice`, so the window is trimmed here. A consumer is its partitions' only writer,
so the applier remembers what it last wrote to each document and skips the read. If another
writer got there first (two consumers briefly sharing a partition in a rebalance), the guarded
write matches nothing and the document is read again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ds_common.mongo import Document


@dataclass(frozen=True)
class Delta:
    event_id: str
    partition: int
    offset: int
    increments: Mapping[str, int]


@dataclass
class _Guards:
    version: int = 0  # 0: the document does not exist
    offsets: dict[str, int] = field(default_factory=dict)
    recent: list[str] = field(default_factory=list)


class DeltaApplier:
    def __init__(self, collection: AsyncCollection[Document], *, keep: int = 64, remember: int = 4096) -> None:
        self.collection = collection
        self.keep = keep
        self.remember = remember
        self._written: OrderedDict[Any, _Guards] = OrderedDict()  # what this process last wrote

    async def apply(self, doc_id: Any, deltas: Sequence[Delta], fields: Mapping[str, Any]) -> int:
        """Add the increments of the deltas not applied yet to the document, and set `fields`, in
        one write. Returns how many deltas were applied."""
        guards = self._written.pop(doc_id, None)
        while True:
            if guards is None:
                guards = await self._read(doc_id)
            fresh, seen = [], set(guards.recent)
            for delta in deltas:
                if delta.offset > guards.offsets.get(str(delta.partition), -1) and delta.event_id not in seen:
                    fresh.append(delta)
                    seen.add(delta.event_id)
            if not fresh:
                self._keep(doc_id, guards)
                return 0
            written = _Guards(guards.version + 1, dict(guards.offsets),
                              [*guards.recent, *(d.event_id for d in fresh)][-self.keep:])
            increments: dict[str, int] = {}
            for delta in deltas:
                written.offsets[str(delta.partition)] = max(delta.offset, written.offsets.get(str(delta.partition), -1))
            for delta in fresh:
                for name, amount in delta.increments.items():
                    increments[name] = increments.get(name, 0) + amount
            update = {"$inc": increments,
                      "$set": {**fields, "_v": written.version, "_o": written.offsets, "_recent": written.recent}}
            if await self._write(doc_id, guards.version, update):
                self._keep(doc_id, written)
                return len(fresh)
            guards = None  # another writer changed it: read it again

    async def _write(self, doc_id: Any, version: int, update: Document) -> bool:
        try:
            if version == 0:  # absent when read: an upsert, refused if another writer created it
                await self.collection.update_one({"_id": doc_id, "_v": {"$exists": False}}, update, upsert=True)
                return True
            return (await self.collection.update_one({"_id": doc_id, "_v": version}, update)).matched_count > 0
        except DuplicateKeyError:
            return False

    async def _read(self, doc_id: Any) -> _Guards:
        doc = await self.collection.find_one({"_id": doc_id}, {"_v": 1, "_o": 1, "_recent": 1})
        if doc is None:
            return _Guards()
        return _Guards(int(doc.get("_v", 0)), dict(doc.get("_o", {})), list(doc.get("_recent", [])))

    def _keep(self, doc_id: Any, guards: _Guards) -> None:
        self._written[doc_id] = guards
        if len(self._written) > self.remember:
            self._written.popitem(last=False)
