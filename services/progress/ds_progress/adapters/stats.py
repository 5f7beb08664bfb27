"""Practice-time statistics: a projection of `practice.recorded`, one document per learner and UTC day.

Each event is applied once (`apply_once_by_event_id`: the event id joins the day document's
applied list in the same write as the `$inc`), so redelivery after a crash changes nothing.
Per-day documents keep that list bounded. Lifetime, channel and video totals are sums of them.

Rebuild (e.g. after a projection bug): stop the consumer, drop `stats_daily`, then
`ds-events rewind progress practice.recorded` and start the consumer: it replays the topic.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ds_common.clock import to_ms, utc_midnight
from ds_common.events.consumer import apply_once_by_event_id
from ds_common.events.contracts import PracticeRecorded
from ds_common.events.envelope import Envelope
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_progress.adapters.collections import STATS_DAILY

MAX_DAYS_PER_USER = 5000  # ~14 years of daily documents


class PracticeStats:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[STATS_DAILY]

    async def record(self, event: Envelope) -> bool:
        data = PracticeRecorded.model_validate(event.data)
        if data.duration_s <= 0:
            return False
        day = utc_midnight(data.recorded_at)
        seconds, ch, v = data.duration_s, data.channel_id, data.video_id
        update = {"$inc": {"duration": seconds, f"ch.{ch}.total": seconds, f"ch.{ch}.v.{v}": seconds},
                  "$set": {"user_id": data.user_id, "day": to_ms(day), "date": day.strftime("%Y-%m-%d")}}
        return await apply_once_by_event_id(self.collection, f"{data.user_id}:{to_ms(day)}", event.id, update)

    async def days_of(self, user_id: str) -> list[Document]:
        return await (self.collection.find({"user_id": user_id}, {"_applied": 0})
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


def usage_report(days: int, now: datetime, activity: dict[int, dict[str, int]],
                 new_users: dict[int, int], distinct_active: int) -> dict[str, Any]:
    """The legacy `/user/usage-stats` shape: zero-filled daily arrays, sorted by date."""
    first = utc_midnight(now) - timedelta(days=days - 1)
    dates = [first + timedelta(days=i) for i in range(days)]
    keyed = [(to_ms(d), d.strftime("%Y-%m-%d")) for d in dates]
    active = [{"date": label, "activeUsers": activity.get(ms, {}).get("users", 0)} for ms, label in keyed]
    duration = [{"date": label, "duration": activity.get(ms, {}).get("duration", 0)} for ms, label in keyed]
    joined = [{"date": label, "newUsers": new_users.get(ms, 0)} for ms, label in keyed]
    total = sum(d["duration"] for d in duration)
    return {
        "summary": {"totalActiveUsers": distinct_active, "totalDuration": total,
                    "avgDailyDuration": total / days, "totalNewUsers": sum(j["newUsers"] for j in joined),
                    "period": f"Last {days} days"},
        "dailyActiveUsers": active, "dailyDuration": duration, "dailyNewUsers": joined,
    }
