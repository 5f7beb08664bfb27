"""Admin plan changes by e-mail (the gateway routes both paths to billing):

- PUT /auth/user/plan: a plan and/or a number of days for up to 100 e-mails;
- POST /user/update-duration: the legacy admin "edit membership", days only (the plan is named
  from them), answered in its legacy shape.

Unlike the legacy routes, both go through the entitlement rules and the ledger (an admin change
replaces the one-time plan, audited), and an unknown e-mail is reported, never created (W28).
"""

from __future__ import annotations

from typing import Any

from ds_common.auth import AdminUser
from ds_common.errors import BadRequest
from fastapi import APIRouter

from ds_billing.api.deps import Ctx
from ds_billing.api.schemas import DurationsUpdated, PlansSet, SetPlan, UpdateDuration
from ds_billing.domain.entitlement import legacy_plan
from ds_billing.domain.plans import admin_change

router = APIRouter()


@router.put("/auth/user/plan", response_model=PlansSet)
async def set_plan(body: SetPlan, admin: AdminUser, ctx: Ctx) -> dict[str, Any]:
    plan, days = admin_change(body.plan, body.duration, ctx.settings.plans)
    results = [{"email": r.email, "success": True, "message": "Plan updated", "plan": legacy_plan(r.entitlement)}
               if r.entitlement is not None else {"email": r.email, "success": False, "message": "User not found"}
               for r in await ctx.membership.set_plans(body.emails, plan, days, admin_id=admin.user_id)]
    ok = sum(1 for r in results if r["success"])
    return {"message": f"Plan update completed. {ok} successful, {len(results) - ok} failed.", "results": results}


@router.post("/user/update-duration", response_model=DurationsUpdated)
async def update_duration(body: UpdateDuration, admin: AdminUser, ctx: Ctx) -> dict[str, Any]:
    if not body.emails:
        raise BadRequest("No emails provided")
    if not body.duration:
        raise BadRequest("Duration is required")
    plan, days = admin_change(None, body.duration, ctx.settings.plans)
    results = [{"email": r.email, "success": True, "plan": legacy_plan(r.entitlement)}
               if r.entitlement is not None else {"email": r.email, "success": False, "error": "User not found"}
               for r in await ctx.membership.set_plans(body.emails, plan, days, admin_id=admin.user_id)]
    updated = sum(1 for r in results if r["success"])
    return {"message": f"Updated {updated} of {len(body.emails)} users", "results": results}
