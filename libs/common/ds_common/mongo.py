"""MongoDB through PyMongo's async API, and indexes declared in code.

Each service owns one database and declares its indexes as `IndexSpec`s; `ensure_indexes` creates
them at start-up (idempotent). No TTL and no partial indexes: the MongoDB-wire server used in
tests (FerretDB 1.x) rejects them, so expiry is an explicit field checked at read time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: Sequence[tuple[str, int]]
    unique: bool = False

    @property
    def name(self) -> str:
        name = "_".join(f"{field}_{direction}" for field, direction in self.keys)
        return name + ("_u" if self.unique else "")


def make_mongo_client(url: str, *, max_pool_size: int = 50) -> AsyncMongoClient[Document]:
    """One pooled client per process, created inside the running event loop."""
    return AsyncMongoClient(
        url, tz_aware=True, maxPoolSize=max_pool_size, minPoolSize=2,
        serverSelectionTimeoutMS=5000, connectTimeoutMS=3000, retryWrites=False,
        appname="dictation-studio",
    )


async def ensure_indexes(db: AsyncDatabase[Document], specs: Iterable[IndexSpec]) -> None:
    by_collection: dict[str, list[IndexModel]] = {}
    for spec in specs:
        by_collection.setdefault(spec.collection, []).append(
            IndexModel(list(spec.keys), name=spec.name, unique=spec.unique))
    for collection, models in by_collection.items():
        # One index per command: FerretDB 1.24 panics on a multi-index createIndexes when the
        # indexes already exist (every restart), while single ones are idempotent as on MongoDB.
        for model in models:
            await db[collection].create_indexes([model])


def asc(*fields: str) -> list[tuple[str, int]]:
    return [(f, ASCENDING) for f in fields]


async def paced_scan(collection: AsyncCollection[Document], projection: Mapping[str, Any], *, page: int = 100,
                     duty: float = 0.1) -> AsyncIterator[list[Document]]:
    """Every document of `collection`, a page at a time, pausing after each page so that the store
    spends at most `duty` of its time on the scan. For the rare safety nets that must look at
    everything: FerretDB reads and decodes every document of a collection for any query that is not
    an `_id` lookup, so such a scan costs in proportion to the collection's bytes, and pacing it
    keeps every request's share of the store."""
    started = time.monotonic()
    batch: list[Document] = []
    async for doc in collection.find({}, projection, batch_size=page):
        batch.append(doc)
        if len(batch) == page:
            yield batch
            busy = time.monotonic() - started
            await asyncio.sleep(busy * (1 / duty - 1))
            batch, started = [], time.monotonic()
    if batch:
        yield batch


__all__ = ["Document", "DuplicateKeyError", "IndexSpec", "asc", "ensure_indexes", "make_mongo_client", "paced_scan"]
