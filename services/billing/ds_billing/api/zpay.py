"""ZPay routes (legacy paths and shapes): create an order, ZPay's notify, order status, history."""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import CurrentUser
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse

from ds_billing.api.deps import Ctx
from ds_billing.api.schemas import CreateOrder, OrderCreated, OrderHistory, OrderStatus

router = APIRouter(prefix="/payment/zpay")
MAX_NOTIFY_PARAMS = 32
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post("/create-order", response_model=OrderCreated)
async def create_order(body: CreateOrder, user: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    return await ctx.zpay.create_order(user.user_id, body.plan, body.duration, body.payType)


@router.get("/notify", response_class=PlainTextResponse)
async def notify(request: Request, ctx: Ctx) -> PlainTextResponse:
    """ZPay's server-to-server callback: plain `success` (stop repeating it) or `fail`."""
    params = request.query_params
    # ZPay names each parameter once; anything else is not its notify.
    accepted = len(params.multi_items()) == len(params) <= MAX_NOTIFY_PARAMS and \
        await ctx.zpay.notified({k: v[:512] for k, v in params.items()})
    return PlainTextResponse("success" if accepted else "fail", status_code=200 if accepted else 400)


@router.get("/order-status/{order_id}", response_model=OrderStatus)
async def order_status(order_id: Annotated[str, Path(max_length=64)], user: CurrentUser, ctx: Ctx) -> dict[str, Any]:
    return await ctx.zpay.status(user.user_id, order_id)


@router.get("/orders", response_model=OrderHistory)
async def orders(user: CurrentUser, ctx: Ctx, limit: Limit = 100) -> dict[str, Any]:
    return await ctx.zpay.history(user.user_id, limit)


@router.get("/history", response_model=OrderHistory)
async def history(user: CurrentUser, ctx: Ctx, limit: Limit = 100) -> dict[str, Any]:
    return await ctx.zpay.history(user.user_id, limit)
