"""Practice-time statistics: a projection of `practice.recorded`, one document per learner and UTC day.

Each event is applied once (ds_common.events.deltas: the day document keeps the offsets and the
ids of the events it applied last, written with the increments), so redelivery changes nothing. The
consumer hands over a partition's events together (`record_many`): one learner's events of one
day go in one write, so the store's load follows the number of learners practising, not the
number of saves. Lifetime, channel and video totals are sums of the day documents.

Rebuild (e.g. after a projection bug): stop the consumer, drop `stats_daily`, then
`ds-events rewind progress practice.recorded` and start the consumer: it replays the topic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import Delivery
from ds_common.events.contracts import PracticeRecorded
from ds_common.events.deltas import Delta, DeltaApplier
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import STATS_DAILY

MAX_DAYS_PER_USER = 5000  # ~14 years of daily documents


class PracticeStats:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[STATS_DAILY]
        self.days = DeltaApplier(self.collection)

    async def record_many(self, deliveries: list[Delivery]) -> int:
        """Apply the events, each learner-day's in one write; returns how many were new."""
        days: dict[str, tuple[list[Delta], Document]] = {}
        for delivery in deliveries:
            found = _delta(delivery.data)
            if found is not None:
                doc_id, increments, fields = found
                delta = Delta(delivery.event.id, delivery.partition, delivery.offset, increments)
                days.setdefault(doc_id, ([], fields))[0].append(delta)
        applied = 0
        for doc_id, (deltas, fields) in days.items():
            applied += await self.days.apply(doc_id, deltas, fields)
        return applied

    async def days_of(self, user_id: str) -> list[Document]:
        return await (self.collection.find({"user_id": user_id}, {"_recent": 0, "_o": 0})
                      .limit(MAX_DAYS_PER_USER).to_list())

    async def totals(self, user_id: str) -> dict[str, int]:
        """Flat totals: `all`, `d:<day ms>`, `c:<channel>`, `v:<channel>:<video>` (cache fields)."""
        totals: dict[str, int] = {"all": 0}
        for doc in await self.days_of(user_id):
            totals["all"] += int(doc.get("duration", 0))
            totals[f"d:{doc['day']}"] = int(doc.get("duration", 0))
            for ch, per in (doc.get("ch") or {}).items():
                totals[f"c:{ch}"] = totals.get(f"c:{ch}", 0) + int(per.get("total", 0))
                for v, seconds in (per.get("v") or {}).items():
                    totals[f"v:{ch}:{v}"] = totals.get(f"v:{ch}:{v}", 0) + int(seconds)
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


def _delta(data: PracticeRecorded) -> tuple[str, dict[str, int], Document] | None:
    """A practice event's day document, its increments and its fields (None: nothing to add)."""
    if data.duration_s <= 0:
        return None
    day = utc_midnight(data.recorded_at)
    seconds, ch, v = data.duration_s, data.channel_id, data.video_id
    return (f"{data.user_id}:{to_ms(day)}",
            {"duration": seconds, f"ch.{ch}.total": seconds, f"ch.{ch}.v.{v}": seconds},
            {"user_id": data.user_id, "day": to_ms(day), "date": day.strftime("%Y-%m-%d")})
