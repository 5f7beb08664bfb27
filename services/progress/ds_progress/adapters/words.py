"""Each learner's missed words: one versioned document (`words`: {lang: [words]}), changed with a
conditional write (ds_common.versioned), so the bound holds under concurrent adds. Read through a
Redis copy, which every change forgets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ds_common.cache import DocumentCache
from ds_common.clock import Clock
from ds_common.mongo import Document
from ds_common.versioned import Change, VersionedDocuments
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import MISSED_WORDS

Words = dict[str, list[str]]


class MissedWordLists:
    def __init__(self, db: AsyncDatabase[Document], copies: DocumentCache, clock: Clock) -> None:
        self.collection = db[MISSED_WORDS]
        self.lists = VersionedDocuments(self.collection, clock=clock, attempts=20)
        self.copies = copies

    async def get(self, user_id: str) -> Words:
        doc = await self.copies.get(user_id, self._load)
        return dict((doc or {}).get("words") or {})

    async def _load(self, user_ids: list[str]) -> dict[str, Document | None]:
        docs = await asyncio.gather(*(self.collection.find_one({"_id": u}) for u in user_ids))
        return dict(zip(user_ids, docs, strict=True))

    async def change(self, user_id: str, changed: Callable[[Words], Words]) -> Words:
        """Apply `changed` (a rule of domain/words.py) to the stored words, atomically."""
        def decide(current: Document | None) -> Change | None:
            stored = dict((current or {}).get("words") or {})
            after = changed(stored)
            return None if after == stored else Change(set={"words": after})

        written = await self.lists.mutate(user_id, decide)
        if written.changed:
            await self.copies.forget(user_id)
        return dict((written.document or {}).get("words") or {})
