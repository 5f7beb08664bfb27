"""VersionedDocuments on the real store: one write with its events, consecutive versions under
concurrent writers, documents written before they had a version, and a bounded retry."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ds_common.errors import Conflict, ServiceUnavailable
from ds_common.events.contracts import ChannelUpdated
from ds_common.events.outbox import OUTBOX, PENDING
from ds_common.mongo import Document
from ds_common.versioned import Change, VersionedDocuments
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.integration


def renamed(name: str):
    def decide(current: Document | None) -> Change | None:
        if current is not None and current.get("name") == name:
            return None  # nothing changes: no write, no event
        return Change(set={"name": name}, events=[ChannelUpdated(channel_id="ch", name=name)])
    return decide


async def test_a_change_and_its_events_land_in_one_write(mongo_db: AsyncDatabase) -> None:
    docs = VersionedDocuments(mongo_db["things"])
    first = await docs.mutate("ch", renamed("One"), created={"since": 1})
    assert first.changed and first.document == {"_id": "ch", "since": 1, "name": "One", "version": 1}
    assert (await docs.mutate("ch", renamed("One"))).changed is False
    second = await docs.mutate("ch", renamed("Two"))
    assert second.document is not None and second.document["version"] == 2
    stored = await mongo_db["things"].find_one({"_id": "ch"})
    assert [(e["type"], e["key"], e["sequence"], e["data"]["name"]) for e in stored[OUTBOX]] == [
        ("channel.updated", "ch", 1, "One"), ("channel.updated", "ch", 2, "Two")]
    assert stored[PENDING] is True and await docs.get("ch") == {"_id": "ch", "since": 1, "name": "Two", "version": 2}


async def test_concurrent_writers_get_consecutive_versions(mongo_db: AsyncDatabase) -> None:
    docs = VersionedDocuments(mongo_db["things"], attempts=100)
    await asyncio.gather(*(docs.mutate("ch", renamed(f"name-{i}")) for i in range(10)))
    stored = await mongo_db["things"].find_one({"_id": "ch"})
    assert stored["version"] == 10 and [e["sequence"] for e in stored[OUTBOX]] == list(range(1, 11))


async def test_a_document_written_before_it_had_a_version_is_taken_over(mongo_db: AsyncDatabase) -> None:
    await mongo_db["things"].insert_one({"_id": "old", "name": "Legacy"})
    docs = VersionedDocuments(mongo_db["things"])
    written = await docs.mutate("old", renamed("New"))
    assert written.changed and written.document == {"_id": "old", "name": "New", "version": 1}


class Overtaken:
    """A collection where another writer changes the document between every read and write."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.name = collection.name
        self.find_one = collection.find_one

    async def update_one(self, query: Document, update: Document) -> Any:
        await self.collection.update_one({"_id": query["_id"]}, {"$inc": {"version": 1}})
        return await self.collection.update_one(query, update)


async def test_a_writer_that_keeps_losing_gives_up_with_the_busy_error(mongo_db: AsyncDatabase) -> None:
    collection = mongo_db["things"]
    await collection.insert_one({"_id": "hot", "name": "x", "version": 1})
    with pytest.raises(Conflict):
        await VersionedDocuments(Overtaken(collection), attempts=3).mutate("hot", renamed("mine"))
    busy = VersionedDocuments(Overtaken(collection), attempts=2,
                              busy=lambda: ServiceUnavailable("busy"))
    with pytest.raises(ServiceUnavailable):
        await busy.mutate("hot", renamed("mine"))
    assert (await collection.find_one({"_id": "hot"}))["name"] == "x"
