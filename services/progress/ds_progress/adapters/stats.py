"""Practice-time statistics: a projection of `practice.recorded` into two collections, one document
per learner and UTC day (`stats_daily`, the admin usage report) and one per learner
(`stats_totals`: lifetime, per day, per channel and per video seconds), so a learner's statistics
are one `_id` read however long they have practised.

Each event is applied once to each (ds_common.events.deltas: a document keeps the offsets and the
ids of the events it applied last, written with the increments), so redelivery changes nothing. The
consumer hands over a partition's events together (`record_many`): one learner's events of one
day go in one write, so the store's load follows the number of learners practising, not the
number of saves.

Rebuild (e.g. after a projection bug): stop the consumer, drop `stats_daily` and `stats_totals`,
then `ds-events rewind progress practice.recorded` and start the consumer: it replays the topic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import Delivery
from ds_common.events.contracts import PracticeRecorded
from ds_common.events.deltas import Delta, DeltaApplier
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import STATS_DAILY, STATS_TOTALS


class PracticeStats:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[STATS_DAILY]
        self.days = DeltaApplier(self.collection)
        self.learners = DeltaApplier(db[STATS_TOTALS])

    async def record_many(self, deliveries: list[Delivery]) -> int:
        """Apply the events, each learner-day's in one write and each learner's totals in one
        more; returns how many were new."""
        days: dict[str, tuple[list[Delta], Document]] = {}
        learners: dict[str, list[Delta]] = {}
        for delivery in deliveries:
            data = delivery.data
            found = _delta(data)
            if found is not None:
                doc_id, increments, fields = found
                delta = Delta(delivery.event.id, delivery.partition, delivery.offset, increments)
                days.setdefault(doc_id, ([], fields))[0].append(delta)
                learners.setdefault(data.user_id, []).append(Delta(
                    delivery.event.id, delivery.partition, delivery.offset, _totals_increments(data)))
        applied = 0
        for doc_id, (deltas, fields) in days.items():
            applied += await self.days.apply(doc_id, deltas, fields)
        for user_id, deltas in learners.items():
            await self.learners.apply(user_id, deltas, {})
        return applied

    async def _totals_doc(self, user_id: str) -> Document:
        return await self.learners.collection.find_one({"_id": user_id}, {"_recent": 0, "_o": 0}) or {}

    async def daily(self, user_id: str) -> dict[int, int]:
        """The learner's practice seconds per UTC day (epoch ms of its midnight)."""
        return {int(day): int(seconds) for day, seconds in ((await self._totals_doc(user_id)).get("d") or {}).items()}

    async def totals(self, user_id: str) -> dict[str, int]:
        """Flat totals: `all`, `d:<day ms>`, `c:<channel>`, `v:<channel>:<video>` (cache fields)."""
        doc = await self._totals_doc(user_id)
        totals: dict[str, int] = {"all": int(doc.get("all", 0))}
        totals.update({f"d:{day}": int(s) for day, s in (doc.get("d") or {}).items()})
        totals.update({f"c:{ch}": int(s) for ch, s in (doc.get("c") or {}).items()})
        totals.update({f"v:{ch}:{v}": int(s) for ch, per in (doc.get("v") or {}).items() for v, s in per.items()})
        return totals

    async def usage(self, days: int, now: datetime) -> dict[int, dict[str, int]]:
        """Per UTC day of the window: active learners (> 0 s) and practice seconds."""
        start = to_ms(utc_midnight(now) - timedelta(days=days - 1))
        match = {"$match": {"day": {"$gte": start}, "duration": {"$gt": 0}}}
        # Two pipelines: FerretDB 1.x zeroes a field $sum that shares a $group with a constant $sum.
        counts = await self.collection.aggregate([match, {"$group": {"_id": "$day", "n": {"$sum": 1}}}])
        sums = await self.collection.aggregate([match, {"$group": {"_id": "$day", "s": {"$sum": "$duration"}}}])
        users = {int(r["_id"]): int(r["n"]) async for r in counts}
        seconds = {int(r["_id"]): int(r["s"]) async for r in sums}
        return {day: {"users": n, "duration": seconds.get(day, 0)} for day, n in users.items()}

    async def distinct_active(self, days: int, now: datetime) -> int:
        start = to_ms(utc_midnight(now) - timedelta(days=days - 1))
        cursor = await self.collection.aggregate([
            {"$match": {"day": {"$gte": start}, "duration": {"$gt": 0}}}, {"$group": {"_id": "$user_id"}}])
        return len([r async for r in cursor])


def _totals_increments(data: PracticeRecorded) -> dict[str, int]:
    seconds, ch, v = data.duration_s, data.channel_id, data.video_id
    return {"all": seconds, f"d.{to_ms(utc_midnight(data.recorded_at))}": seconds, f"c.{ch}": seconds,
            f"v.{ch}.{v}": seconds}


def _delta(data: PracticeRecorded) -> tuple[str, dict[str, int], Document] | None:
    """A practice event's day document, its increments and its fields (None: nothing to add)."""
    if data.duration_s <= 0:
        return None
    day = utc_midnight(data.recorded_at)
    seconds, ch, v = data.duration_s, data.channel_id, data.video_id
    return (f"{data.user_id}:{to_ms(day)}",
            {"duration": seconds, f"ch.{ch}.total": seconds, f"ch.{ch}.v.{v}": seconds},
            {"user_id": data.user_id, "day": to_ms(day), "date": day.strftime("%Y-%m-%d")})
