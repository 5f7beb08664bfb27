"""Stripe Checkout for learners: create a session, check one, cancel a subscription (§4.9)."""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import CurrentUser
from ds_common.errors import BadRequest, NotFound, ServiceUnavailable
from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict

from ds_billing.adapters.collections import CHECKOUTS
from ds_billing.adapters.provider import CheckoutRequest, ProviderError, ProviderUnavailable
from ds_billing.api.context import Context, ctx
from ds_billing.domain.entitlement import legacy_plan

router = APIRouter(prefix="/payment")
Ctx = Annotated[Context, Depends(ctx)]


class CreateSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str
    duration: int | None = None  # accepted for the legacy front end; must match the plan (W9)
    isRecurring: bool = False


@router.post("/create-session")
async def create_session(body: CreateSession, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    offer = c.settings.plans.get(body.plan)
    if offer is None:
        raise BadRequest("Invalid plan selected")
    if body.duration is not None and body.duration != offer.days:
        raise BadRequest(f"Invalid duration for {body.plan} plan. Expected {offer.days} days")
    mode = "subscription" if body.isRecurring else "payment"
    # Identical requests within one window (double clicks, retries) get the same Stripe session.
    window = int(c.clock.now().timestamp()) // c.settings.checkout_idempotency_window_s
    request = CheckoutRequest(
        user_id=user.user_id, email=user.email or await c.users.email_of(user.user_id), plan=body.plan,
        recurring=body.isRecurring,
        price_id=offer.stripe_price_recurring if body.isRecurring else offer.stripe_price_one_time,
        success_url=c.settings.checkout_success_url, cancel_url=c.settings.checkout_cancel_url,
        idempotency_key=f"checkout-{user.user_id}-{body.plan}-{mode}-{window}")
    try:
        session = await c.provider.create_checkout(request)
    except ProviderError as exc:
        raise BadRequest(str(exc)) from None
    except ProviderUnavailable:
        raise ServiceUnavailable("Payment provider unavailable, please retry") from None
    await c.db[CHECKOUTS].update_one(
        {"_id": session.id},
        {"$setOnInsert": {"user_id": user.user_id, "plan": body.plan, "days": offer.days, "mode": mode,
                          "provider": c.provider.name, "status": "open", "created_at": c.clock.now()}},
        upsert=True)
    return {"sessionId": session.id, "url": session.url}


SessionId = Annotated[str, Path(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]


@router.post("/verify-session/{session_id}")
async def verify_session(session_id: SessionId, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    ours = await c.db[CHECKOUTS].find_one({"_id": session_id})
    # Someone else's session looks exactly like an unknown one (legacy W6).
    if ours is None or (ours["user_id"] != user.user_id and not user.is_admin):
        raise NotFound("Session not found")
    try:
        status = await c.provider.checkout_payment_status(session_id)
    except ProviderError as exc:
        raise BadRequest(str(exc)) from None
    except ProviderUnavailable:
        raise ServiceUnavailable("Payment provider unavailable, please retry") from None
    owner = str(ours["user_id"])
    entitlement = await c.store.current(owner)
    fulfilled = await c.store.has_applied(owner, f"checkout:{session_id}")
    return {"status": status, "fulfilled": fulfilled,
            "userInfo": {"email": await c.users.email_of(owner), "plan": legacy_plan(entitlement)}}


@router.post("/cancel-subscription")
async def cancel_subscription(user: CurrentUser, c: Ctx) -> dict[str, Any]:
    try:
        entitlement = await c.membership.cancel_subscription(user.user_id)
    except ProviderError as exc:
        raise BadRequest(str(exc)) from None
    except ProviderUnavailable:
        raise ServiceUnavailable("Payment provider unavailable, please retry") from None
    return {"message": "Subscription cancelled successfully", "plan": legacy_plan(entitlement)}
