"""Practice time (legacy §4.4, §5.5), admin usage statistics and membership edits (§4.12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import httpx
from ds_common.auth import AdminUser, CurrentUser
from ds_common.errors import BadRequest, ServiceUnavailable
from fastapi import APIRouter, Query, Request

from ds_progress.adapters.stats import usage_report
from ds_progress.api.context import Ctx
from ds_progress.api.models import UpdateDuration

router = APIRouter()


@router.get("/user/duration")
async def duration(user: CurrentUser, c: Ctx) -> dict[str, Any]:
    days = await c.stats.days_of(user.user_id)
    return {"totalDuration": sum(int(d.get("duration", 0)) for d in days),
            "dailyDurations": {str(d["day"]): int(d.get("duration", 0)) for d in sorted(days, key=lambda d: d["day"])}}


@router.get("/user/usage-stats")
async def usage_stats(_: AdminUser, c: Ctx, days: Annotated[int, Query(ge=1, le=366)] = 1) -> dict[str, Any]:
    now = c.now()
    activity = await c.stats.usage(days, now)
    distinct = await c.stats.distinct_active(days, now)
    new_users = await c.users.new_per_day(now - timedelta(days=days - 1))
    return usage_report(days, now, activity, new_users, distinct)


@router.post("/user/update-duration")
async def update_duration(body: UpdateDuration, admin: AdminUser, request: Request, c: Ctx) -> dict[str, Any]:
    """The admin "edit membership": billing decides plans, so this forwards to billing's admin plan
    route with the admin's own token and reshapes the answer into the legacy form."""
    if not body.emails:
        raise BadRequest("No emails provided")
    if body.duration is None or body.duration == 0:
        raise BadRequest("Duration is required")
    try:  # billing names the plan from the duration (legacy §5.2) and applies it (§5.3)
        answer = await c.http.put(f"{c.settings.billing_url}/auth/user/plan",
                                  json={"emails": body.emails, "duration": body.duration},
                                  headers={"Authorization": request.headers["authorization"],
                                           "X-Request-ID": request.state.request_id})
    except httpx.HTTPError as exc:
        raise ServiceUnavailable("Billing is unavailable, please retry") from exc
    if answer.status_code >= 500:
        raise ServiceUnavailable("Billing is unavailable, please retry")
    if answer.status_code >= 400:
        raise BadRequest(_error_of(answer))
    results = []
    for row in answer.json().get("results", []):
        if row.get("success"):
            results.append({"email": row.get("email"), "success": True, "plan": row.get("plan")})
        else:
            results.append({"email": row.get("email"), "success": False,
                            "error": row.get("error") or row.get("message") or "Update failed"})
    updated = sum(1 for r in results if r["success"])
    return {"message": f"Updated {updated} of {len(body.emails)} users", "results": results}


def _error_of(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("error") or "Plan update refused")
    except ValueError:
        return "Plan update refused"
