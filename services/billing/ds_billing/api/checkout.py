"""Stripe Checkout for learners: create a session, check one, cancel a subscription."""

from __future__ import annotations

from typing import Annotated

from ds_common.auth import CurrentUser
from fastapi import APIRouter, Path

from ds_billing.api.deps import Ctx
from ds_billing.api.schemas import CreateSession, PlanAnswer, SessionCreated, SessionVerified
from ds_billing.domain.entitlement import legacy_plan

router = APIRouter(prefix="/payment")

SessionId = Annotated[str, Path(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]


@router.post("/create-session", response_model=SessionCreated)
async def create_session(body: CreateSession, user: CurrentUser, ctx: Ctx) -> dict[str, object]:
    session = await ctx.checkout.create_session(user.user_id, user.email, body.plan, body.duration,
                                                body.isRecurring)
    return {"sessionId": session.id, "url": session.url}


@router.post("/verify-session/{session_id}", response_model=SessionVerified)
async def verify_session(session_id: SessionId, user: CurrentUser, ctx: Ctx) -> dict[str, object]:
    state = await ctx.checkout.session_state(session_id, user.user_id, is_admin=user.is_admin)
    return {"status": state.status, "fulfilled": state.fulfilled,
            "userInfo": {"email": state.email, "plan": legacy_plan(state.entitlement)}}


@router.post("/cancel-subscription", response_model=PlanAnswer)
async def cancel_subscription(user: CurrentUser, ctx: Ctx) -> dict[str, object]:
    entitlement = await ctx.membership.cancel_subscription(user.user_id)
    return {"message": "Subscription cancelled successfully", "plan": legacy_plan(entitlement)}
