"""The learner's other records: quota ledger, plan mirror, user directory, missed words."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, Literal

from ds_common.clock import to_ms, utc_midnight
from ds_common.errors import BadRequest, ServiceUnavailable
from ds_common.events.contracts import VideoStarted
from ds_common.events.envelope import new_event
from ds_common.events.outbox import document_with_events, with_events
from ds_common.mongo import Document, DuplicateKeyError
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import CHANNEL_VIDEOS, ENTITLEMENTS, MISSED_WORDS, QUOTA, USERS
from ds_progress.domain.rules import LANGUAGES, current_cycle, decide, group_words

MAX_WORDS_PER_USER = 5000
Registration = Literal["new", "known", "refused"]


class QuotaLedger:
    """One document per learner: the current cycle's videos, the history of counted videos, and
    the videos opened under an unlimited plan (`opened`, for `video.started` only).

    Check-and-register is one conditional single-document write guarded by `rev`, so racing tabs
    cannot exceed the limit; a refusal or an already registered video writes nothing.
    """

    def __init__(self, db: AsyncDatabase[Document], *, limit: int, cycle_days: int) -> None:
        self.collection = db[QUOTA]
        self.limit = limit
        self.cycle_days = cycle_days

    async def get(self, user_id: str) -> Document | None:
        return await self.collection.find_one({"_id": user_id})

    async def register(self, user_id: str, channel_id: str, video_id: str, now: datetime,
                       *, unlimited: bool) -> Registration:
        key = f"{channel_id}:{video_id}"
        for _ in range(100):
            doc = await self.get(user_id)
            cycle = current_cycle(doc, now, self.cycle_days)
            history = (doc or {}).get("history", [])
            if key in history or (unlimited and key in (doc or {}).get("opened", [])):
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
                    return "new"
                except DuplicateKeyError:
                    continue
            update = {"$set": {"rev": rev + 1, "cycle_start": cycle.start, "videos": videos}, "$push": listed}
            done = await self.collection.update_one({"_id": user_id, "rev": rev}, with_events(update, event))
            if done.matched_count:
                return "new"
        raise ServiceUnavailable("Too many concurrent registrations, please retry")


class Entitlements:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[ENTITLEMENTS]

    async def get(self, user_id: str) -> Document | None:
        return await self.collection.find_one({"_id": user_id})


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


class ChannelVideos:
    """The catalog's videos per channel, as progress's consumer last saw them: one document per
    channel, `v.<video id>` = {seq, removed}. `video.published` and `video.removed` travel on
    different topics, so each video keeps the newest of its catalog sequence numbers."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[CHANNEL_VIDEOS]

    async def record(self, channel_id: str, video_id: str, sequence: int, *, removed: bool) -> None:
        field = f"v.{video_id}"
        newer = {"$or": [{f"{field}.seq": {"$exists": False}}, {f"{field}.seq": {"$lt": sequence}}]}
        with contextlib.suppress(DuplicateKeyError):  # the channel exists and holds a newer state
            await self.collection.update_one({"_id": channel_id, **newer},
                                             {"$set": {field: {"seq": sequence, "removed": removed}}}, upsert=True)

    async def _videos(self, channel_id: str) -> dict[str, Document]:
        doc = await self.collection.find_one({"_id": channel_id}, {"v": 1})
        return dict(doc.get("v") or {}) if doc else {}

    async def video_ids(self, channel_id: str) -> list[str]:
        return [video for video, state in (await self._videos(channel_id)).items() if not state.get("removed")]

    async def removed(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (channel, video) pairs the catalog has deleted (one `_id` read per channel)."""
        gone: set[tuple[str, str]] = set()
        for channel_id in {channel for channel, _ in keys}:
            videos = await self._videos(channel_id)
            gone |= {(c, v) for c, v in keys if c == channel_id and videos.get(v, {}).get("removed")}
        return gone


def flatten(words: dict[str, list[str]]) -> list[str]:
    return [w for lang in LANGUAGES for w in words.get(lang, [])]


def words_response(doc: Document | None, message: str | None = None) -> dict[str, Any]:
    stored = (doc or {}).get("words", {})
    structured = {lang: list(stored[lang]) for lang in LANGUAGES if stored.get(lang)}
    body: dict[str, Any] = {"missed_words": flatten(structured), "structured_missed_words": structured}
    return {"message": message, **body} if message else body


class MissedWords:
    """Per learner `{lang: [words]}`; `$addToSet` de-duplicates atomically, the total is bounded."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[MISSED_WORDS]

    async def get(self, user_id: str) -> Document | None:
        return await self.collection.find_one({"_id": user_id})

    async def add(self, user_id: str, words: list[str]) -> Document | None:
        current = await self.get(user_id)
        stored = (current or {}).get("words", {})
        grouped = group_words(words)
        new = sum(1 for lang, ws in grouped.items() for w in ws if w not in stored.get(lang, []))
        if len(flatten(stored)) + new > MAX_WORDS_PER_USER:
            raise BadRequest(f"Too many missed words: at most {MAX_WORDS_PER_USER} are kept")
        if not grouped:
            return current
        update = {"$addToSet": {f"words.{lang}": {"$each": ws} for lang, ws in grouped.items()}}
        return await self.collection.find_one_and_update({"_id": user_id}, update, upsert=True,
                                                         return_document=ReturnDocument.AFTER)

    async def remove(self, user_id: str, words: list[str]) -> Document | None:
        if not words:
            return await self.get(user_id)
        update = {"$pullAll": {f"words.{lang}": words for lang in LANGUAGES}}
        return await self.collection.find_one_and_update({"_id": user_id}, update,
                                                         return_document=ReturnDocument.AFTER)
