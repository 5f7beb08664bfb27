"""PUT /auth/user/plan (admin; the gateway routes it to billing): set plans by email (§4.12).

Unlike the legacy route it goes through the entitlement rules and the ledger, and never creates
a record for an unknown email (W28).
"""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import AdminUser
from ds_common.errors import BadRequest
from ds_common.events.contracts import PlanName
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from ds_billing.api.context import Context, ctx
from ds_billing.domain.entitlement import legacy_plan
from ds_billing.domain.plans import MAX_DAYS, plan_for_days

router = APIRouter()


class SetPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[Annotated[str, Field(min_length=3, max_length=320)]] = Field(min_length=1, max_length=100)
    plan: PlanName | None = None  # default: named from the duration (legacy "edit membership")
    duration: int | None = Field(default=None, ge=1, le=MAX_DAYS)  # days; default: the plan's own


@router.put("/auth/user/plan")
async def set_plan(body: SetPlan, admin: AdminUser, c: Annotated[Context, Depends(ctx)]) -> dict[str, Any]:
    if body.plan is None and body.duration is None:
        raise BadRequest("A plan or a duration is required")
    plan = body.plan or plan_for_days(body.duration or 0)
    offer = c.settings.plans.get(plan)
    days = body.duration or (offer.days if offer else 0)
    results: list[dict[str, Any]] = []
    for email in dict.fromkeys(body.emails):  # each address once, in order
        user_id = await c.users.id_for_email(email)
        if user_id is None:
            results.append({"email": email, "success": False, "message": "User not found"})
            continue
        entitlement = await c.membership.set_plan(user_id, plan, days, admin_id=admin.user_id)
        await c.membership.audit(admin.user_id, "plan.set", user_id=user_id, plan=plan, days=days)
        results.append({"email": email, "success": True, "message": "Plan updated",
                        "plan": legacy_plan(entitlement)})
    ok = sum(r["success"] for r in results)
    return {"message": f"Plan update completed. {ok} successful, {len(results) - ok} failed.", "results": results}
