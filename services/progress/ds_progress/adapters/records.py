"""The learner's other records: quota ledger and plan mirror, user directory, channel videos, missed words."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ds_common.cache import DocumentCache
from ds_common.clock import to_ms, utc_midnight
from ds_common.errors import BadRequest, ServiceUnavailable
from ds_common.events.contracts import VideoStarted
from ds_common.events.envelope import new_event
from ds_common.events.outbox import OUTBOX, PENDING, document_with_events, with_events
from ds_common.mongo import Document, DuplicateKeyError
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import ENTITLEMENTS, MISSED_WORDS, QUOTA, USERS
from ds_progress.domain.rules import LANGUAGES, current_cycle, decide, group_words

MAX_WORDS_PER_USER = 5000
Registration = Literal["new", "known", "refused"]


@dataclass(frozen=True)
class Learner:
    """What quota checks read: the learner's quota ledger and plan mirror (either may be absent)."""

    quota: Document | None
    entitlement: Document | None


class QuotaLedger:
    """One document per learner: the current cycle's videos, the history of counted videos, and
    the videos opened under an unlimited plan (`opened`, for `video.started` only).

    Check-and-register is one conditional single-document write guarded by `rev`, so racing tabs
    cannot exceed the limit; a refusal or an already registered video writes nothing. Quota checks
    read the ledger and the plan mirror together from one Redis copy (`learner`); a registration
    decides on the stored ledger, except that a video the copy already lists is known (a ledger
    only grows), which is the front end's repeated call.
    """

    def __init__(self, db: AsyncDatabase[Document], copies: DocumentCache, *, limit: int, cycle_days: int) -> None:
        self.collection = db[QUOTA]
        self.entitlements = db[ENTITLEMENTS]
        self.copies = copies
        self.limit = limit
        self.cycle_days = cycle_days

    async def learner(self, user_id: str) -> Learner:
        state = await self.copies.get(user_id, self._load) or {}
        return Learner(quota=state.get("quota"), entitlement=state.get("entitlement"))

    async def _load(self, user_ids: list[str]) -> dict[str, Document]:
        async def one(user_id: str) -> Document:
            quota, entitlement = await asyncio.gather(
                self.collection.find_one({"_id": user_id}, {OUTBOX: 0, PENDING: 0}),
                self.entitlements.find_one({"_id": user_id}))
            return {"quota": quota, "entitlement": entitlement}
        return dict(zip(user_ids, await asyncio.gather(*map(one, user_ids)), strict=True))

    async def register(self, user_id: str, channel_id: str, video_id: str, now: datetime,
                       *, unlimited: bool, known: Learner) -> Registration:
        key = f"{channel_id}:{video_id}"
        if _listed(known.quota, key, unlimited=unlimited):
            return "known"
        for _ in range(100):
            doc = await self.collection.find_one({"_id": user_id})
            cycle = current_cycle(doc, now, self.cycle_days)
            history = (doc or {}).get("history", [])
            if _listed(doc, key, unlimited=unlimited):
                return "known"
            if not unlimited and not decide(cycle, history, key, self.limit).can_proceed:
                return "refused"
            rev = (doc or {}).get("rev", 0)
            event = new_event(VideoStarted(user_id=user_id, channel_id=channel_id, video_id=video_id,
                                           cycle_start=cycle.start, cycle_end=cycle.end, counted=not unlimited),
                              key=user_id, sequence=rev + 1, producer="progress", occurred_at=now)
            videos = list(cycle.videos) if unlimited else [*cycle.videos, key]
            listed = {"opened": key} if unlimited else {"history": key}
            if doc is None:
                try:
                    await self.collection.insert_one(document_with_events(
                        {"_id": user_id, "rev": 1, "cycle_start": cycle.start, "videos": videos,
                         "history": [], "opened": [], **{k: [v] for k, v in listed.items()}}, event))
                except DuplicateKeyError:
                    continue
                await self.copies.forget(user_id)
                return "new"
            update = {"$set": {"rev": rev + 1, "cycle_start": cycle.start, "videos": videos}, "$push": listed}
            done = await self.collection.update_one({"_id": user_id, "rev": rev}, with_events(update, event))
            if done.matched_count:
                await self.copies.forget(user_id)
                return "new"
        raise ServiceUnavailable("Too many concurrent registrations, please retry")


def _listed(ledger: Document | None, key: str, *, unlimited: bool) -> bool:
    """Is this video already in the ledger (counted, or opened under an unlimited plan)?"""
    return key in (ledger or {}).get("history", []) or (unlimited and key in (ledger or {}).get("opened", []))


class Users:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[USERS]

    async def by_email(self, email: str) -> Document | None:
        return await self.collection.find_one({"email": email.strip().lower()})

    async def new_per_day(self, since: datetime) -> dict[int, int]:
        cursor = await self.collection.aggregate([
            {"$match": {"created_day": {"$gte": to_ms(utc_midnight(since))}}},
            {"$group": {"_id": "$created_day", "n": {"$sum": 1}}}])
        return {int(row["_id"]): int(row["n"]) async for row in cursor}


def flatten(words: dict[str, list[str]]) -> list[str]:
    return [w for lang in LANGUAGES for w in words.get(lang, [])]


def words_response(doc: Document | None, message: str | None = None) -> dict[str, Any]:
    stored = (doc or {}).get("words", {})
    structured = {lang: list(stored[lang]) for lang in LANGUAGES if stored.get(lang)}
    body: dict[str, Any] = {"missed_words": flatten(structured), "structured_missed_words": structured}
    return {"message": message, **body} if message else body


class MissedWords:
    """Per learner `{lang: [words]}`; `$addToSet` de-duplicates atomically, the total is bounded.
    Reads go through a Redis copy, which every change forgets."""

    def __init__(self, db: AsyncDatabase[Document], copies: DocumentCache) -> None:
        self.collection = db[MISSED_WORDS]
        self.copies = copies

    async def get(self, user_id: str) -> Document | None:
        return await self.copies.get(user_id, self._load)

    async def _load(self, user_ids: list[str]) -> dict[str, Document | None]:
        docs = await asyncio.gather(*(self.collection.find_one({"_id": u}) for u in user_ids))
        return dict(zip(user_ids, docs, strict=True))

    async def add(self, user_id: str, words: list[str]) -> Document | None:
        current = await self.collection.find_one({"_id": user_id})  # the bound is checked on the stored list
        stored = (current or {}).get("words", {})
        grouped = group_words(words)
        new = sum(1 for lang, ws in grouped.items() for w in ws if w not in stored.get(lang, []))
        if len(flatten(stored)) + new > MAX_WORDS_PER_USER:
            raise BadRequest(f"Too many missed words: at most {MAX_WORDS_PER_USER} are kept")
        if not grouped:
            return current
        update = {"$addToSet": {f"words.{lang}": {"$each": ws} for lang, ws in grouped.items()}}
        doc = await self.collection.find_one_and_update({"_id": user_id}, update, upsert=True,
                                                        return_document=ReturnDocument.AFTER)
        await self.copies.forget(user_id)
        return doc

    async def remove(self, user_id: str, words: list[str]) -> Document | None:
        if not words:
            return await self.get(user_id)
        update = {"$pullAll": {f"words.{lang}": words for lang in LANGUAGES}}
        doc = await self.collection.find_one_and_update({"_id": user_id}, update,
                                                        return_document=ReturnDocument.AFTER)
        await self.copies.forget(user_id)
        return doc
