"""ZPay routes (legacy paths and shapes): create an order, ZPay's notify, order status, history."""

from __future__ import annotations

from typing import Annotated, Any

from ds_common.auth import CurrentUser
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ds_billing.api.context import Context, ctx

router = APIRouter(prefix="/payment/zpay")
Ctx = Annotated[Context, Depends(ctx)]
MAX_NOTIFY_PARAMS = 32


class CreateOrder(BaseModel):
    """Checked by the use case, with the legacy messages (a missing field is not a schema error)."""

    model_config = ConfigDict(extra="forbid")

    plan: str | None = Field(default=None, max_length=32)
    duration: StrictInt | None = None
    payType: str | None = Field(default=None, max_length=16)


@router.post("/create-order")
async def create_order(body: CreateOrder, user: CurrentUser, c: Ctx) -> dict[str, Any]:
    return await c.zpay.create_order(user.user_id, body.plan, body.duration, body.payType)


@router.get("/notify", response_class=PlainTextResponse)
async def notify(request: Request, c: Ctx) -> PlainTextResponse:
    """ZPay's server-to-server callback: plain `success` (stop repeating it) or `fail`."""
    params = request.query_params
    # ZPay names each parameter once; anything else is not its notify.
    accepted = len(params.multi_items()) == len(params) <= MAX_NOTIFY_PARAMS and \
        await c.zpay.notified({k: v[:512] for k, v in params.items()})
    return PlainTextResponse("success" if accepted else "fail", status_code=200 if accepted else 400)


@router.get("/order-status/{order_id}")
async def order_status(order_id: Annotated[str, Path(max_length=64)], user: CurrentUser, c: Ctx) -> dict[str, Any]:
    return await c.zpay.status(user.user_id, order_id)


@router.get("/orders")
async def orders(user: CurrentUser, c: Ctx, limit: Annotated[int, Query(ge=1, le=100)] = 100) -> dict[str, Any]:
    return await c.zpay.history(user.user_id, limit)


@router.get("/history")
async def history(user: CurrentUser, c: Ctx, limit: Annotated[int, Query(ge=1, le=100)] = 100) -> dict[str, Any]:
    return await c.zpay.history(user.user_id, limit)
