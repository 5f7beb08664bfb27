"""Membership codes: admins mint, list and assign them; learners redeem them (rate-limited, W10)."""

from __future__ import annotations

from typing import Any

from ds_common.auth import AdminUser, CurrentUser
from ds_common.errors import BadRequest
from fastapi import APIRouter

from ds_billing.api.deps import Context, Ctx
from ds_billing.api.schemas import (
    AssignCode,
    CodeList,
    CodeMinted,
    GenerateCode,
    GenerateCustomCode,
    PlanAnswer,
    RedeemCode,
)
from ds_billing.domain.entitlement import legacy_plan
from ds_billing.domain.plans import CODE_DURATIONS, MAX_DAYS

router = APIRouter(prefix="/payment")


async def _mint(ctx: Context, admin_id: str, days: int, *, custom: bool) -> dict[str, Any]:
    code = await ctx.membership.mint(admin_id, days, custom=custom)
    return {"code": code, "expires_in": ctx.settings.code_lifetime_s}


@router.post("/generate-code", response_model=CodeMinted)
async def generate_code(body: GenerateCode, admin: AdminUser, ctx: Ctx) -> dict[str, Any]:
    days = CODE_DURATIONS.get(body.duration)
    if days is None:
        raise BadRequest("Invalid duration specified")
    return await _mint(ctx, admin.user_id, days, custom=False)


@router.post("/generate-custom-code", response_model=CodeMinted)
async def generate_custom_code(body: GenerateCustomCode, admin: AdminUser, ctx: Ctx) -> dict[str, Any]:
    days = body.days
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise BadRequest("Invalid days specified. Must be a positive integer.")
    return await _mint(ctx, admin.user_id, days, custom=True)


@router.post("/verify-code", response_model=PlanAnswer)
async def verify_code(body: RedeemCode, user: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    await ctx.limiter.hit("redeem", user.user_id, limit=ctx.settings.code_redeem_limit,
                          window_s=ctx.settings.code_redeem_window_s)
    entitlement = await ctx.membership.redeem(body.code, user.user_id)
    return {"message": "Membership successfully applied", "plan": legacy_plan(entitlement)}


@router.get("/verification-codes", response_model=CodeList)
async def verification_codes(_: AdminUser, ctx: Ctx) -> dict[str, Any]:
    listed = await ctx.membership.active_codes()
    return {"codes": listed, "count": len(listed)}


@router.post("/assign-code", response_model=PlanAnswer)
async def assign_code(body: AssignCode, admin: AdminUser, ctx: Ctx) -> dict[str, Any]:
    entitlement = await ctx.membership.assign(body.code, body.userEmail, admin_id=admin.user_id)
    return {"message": f"Membership successfully assigned to {body.userEmail}", "plan": legacy_plan(entitlement)}
