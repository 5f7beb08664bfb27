"""Practice statistics as the legacy views show them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ds_common.clock import to_ms, utc_midnight


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


def duration_view(daily: dict[int, int]) -> dict[str, Any]:
    """GET /user/duration: the learner's total and per-day seconds (day: epoch ms of its midnight)."""
    return {"totalDuration": sum(daily.values()), "dailyDurations": {str(day): daily[day] for day in sorted(daily)}}
