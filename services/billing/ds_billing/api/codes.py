"""Membership codes (§4.10): admins mint, list and assign them; learners redeem them.

Hardened (W4, W10): minting is admin-only and audited; a code carries an HMAC tag checked in
constant time before any lookup; single use is one atomic claim; redemption is rate-limited.
"""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import AdminUser, CurrentUser
from ds_common.errors import BadRequest, NotFound
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from ds_billing.api.context import Context, ctx
from ds_billing.domain import codes
from ds_billing.domain.entitlement import legacy_plan
from ds_billing.domain.plans import CODE_DURATIONS, MAX_DAYS, plan_for_days

router = APIRouter(prefix="/payment")
Ctx = Annotated[Context, Depends(ctx)]


class GenerateCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration: str = Field(max_length=32)


class GenerateCustomCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: Any = None  # checked below, for the legacy message


class RedeemCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=64)


class AssignCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=64)
    userEmail: str = Field(min_length=3, max_length=320)


async def _mint(c: Context, admin_id: str, days: int, *, custom: bool) -> dict[str, Any]:
    plan = plan_for_days(days)
    code, doc = await c.codes.create(days=days, plan=plan, created_by=admin_id, custom=custom)
    await c.membership.audit(admin_id, "code.generated", code_part=doc["_id"], days=days, plan=plan, custom=custom)
    return {"code": code, "expires_in": c.settings.code_lifetime_s}


@router.post("/generate-code")
async def generate_code(body: GenerateCode, admin: AdminUser, c: Ctx) -> dict[str, Any]:
    days = CODE_DURATIONS.get(body.duration)
    if days is None:
        raise BadRequest("Invalid duration specified")
    return await _mint(c, admin.user_id, days, custom=False)


@router.post("/generate-custom-code")
async def generate_custom_code(body: GenerateCustomCode, admin: AdminUser, c: Ctx) -> dict[str, Any]:
    days = body.days
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise BadRequest("Invalid days specified. Must be a positive integer.")
    return await _mint(c, admin.user_id, days, custom=True)


def _verified(c: Context, code: str) -> str:
    try:
        return codes.check(c.code_key, code)
    except codes.InvalidFormat:
        raise BadRequest("Invalid verification code format") from None
    except codes.InvalidTag:
        raise BadRequest("Invalid verification code") from None


@router.post("/verify-code")
async def verify_code(body: RedeemCode, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    await c.limiter.hit("redeem", user.user_id, limit=c.settings.code_redeem_limit,
                        window_s=c.settings.code_redeem_window_s)
    random_part = _verified(c, body.code)
    entitlement = await c.membership.redeem(random_part, user.user_id, actor=user.user_id)
    return {"message": "Membership successfully applied", "plan": legacy_plan(entitlement)}


@router.get("/verification-codes")
async def verification_codes(admin: AdminUser, c: Ctx) -> dict[str, Any]:
    listed = await c.codes.list_active()
    return {"codes": listed, "count": len(listed)}


@router.post("/assign-code")
async def assign_code(body: AssignCode, admin: AdminUser, c: Ctx) -> dict[str, Any]:
    random_part = _verified(c, body.code)
    user_id = await c.users.id_for_email(body.userEmail)
    if user_id is None:
        raise NotFound(f"User with email {body.userEmail} not found")
    entitlement = await c.membership.redeem(random_part, user_id, actor=admin.user_id)
    await c.membership.audit(admin.user_id, "code.assigned", code_part=random_part, user_id=user_id)
    return {"message": f"Membership successfully assigned to {body.userEmail}", "plan": legacy_plan(entitlement)}
