"""Billing's request and response models: the legacy front end's shapes (camelCase where it reads
camelCase, times in epoch ms). A key marked `absent` is left out of an answer, not null, when it
has no value, as the legacy routes did."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from ds_common.events.contracts import PlanName
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ds_billing.domain.plans import MAX_DAYS


def absent(description: str = "") -> Any:
    """An optional key of a legacy answer: left out when None."""
    return Field(default=None, exclude_if=lambda value: value is None, description=description or None)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- shared --------------------------------------------------------------------------------------
class LegacyPlan(BaseModel):
    """The plan object the front end reads (domain.entitlement.legacy_plan)."""

    name: PlanName
    expireTime: int | None  # epoch ms; None while a subscription renews, or never
    isRecurring: bool
    status: Literal["active", "cancelled", "expired"]
    nextPaymentTime: int | None = absent("epoch ms of the next renewal, for a renewing subscription")


class UserInfo(BaseModel):
    email: str | None
    plan: LegacyPlan


class PlanAnswer(BaseModel):
    message: str
    plan: LegacyPlan


# --- Stripe Checkout -------------------------------------------------------------------------------
class CreateSession(Body):
    plan: str
    duration: int | None = None  # accepted for the legacy front end; must match the plan (W9)
    isRecurring: bool = False


class SessionCreated(BaseModel):
    sessionId: str
    url: str | None


class SessionVerified(BaseModel):
    status: str
    fulfilled: bool
    userInfo: UserInfo


class WebhookAnswer(BaseModel):
    success: bool
    ignored: bool | None = absent("a type or an object billing does not act on, acknowledged")
    duplicate: bool | None = absent("this event had been accepted before")


# --- membership codes ------------------------------------------------------------------------------
class GenerateCode(Body):
    duration: str = Field(max_length=32)


class GenerateCustomCode(Body):
    days: Any = None  # checked by the route, for the legacy message


class RedeemCode(Body):
    code: str = Field(max_length=64)


class AssignCode(Body):
    code: str = Field(max_length=64)
    userEmail: str = Field(min_length=3, max_length=320)


class CodeMinted(BaseModel):
    code: str
    expires_in: int  # seconds


class CodeView(BaseModel):
    code_part: str
    full_code: str
    duration: str
    days: int
    plan: PlanName
    created_at: int  # epoch ms
    expires_at: int  # epoch ms
    remaining_seconds: int


class CodeList(BaseModel):
    codes: list[CodeView]
    count: int


# --- admin plan changes ----------------------------------------------------------------------------
Email = Annotated[str, Field(min_length=3, max_length=320)]


class SetPlan(Body):
    emails: list[Email] = Field(min_length=1, max_length=100)
    plan: PlanName | None = None  # default: named from the duration (legacy "edit membership")
    duration: int | None = Field(default=None, ge=1, le=MAX_DAYS)  # days; default: the plan's own


class PlanSetResult(BaseModel):
    email: str
    success: bool
    message: str
    plan: LegacyPlan | None = absent()


class PlansSet(BaseModel):
    message: str
    results: list[PlanSetResult]


class UpdateDuration(Body):
    """The legacy admin "edit membership": e-mails and a number of days (-1: permanent)."""

    emails: Annotated[list[Annotated[StrictStr, Field(max_length=320)]], Field(max_length=500)] = []
    duration: Annotated[StrictInt, Field(ge=-1, le=MAX_DAYS)] | None = None


class DurationResult(BaseModel):
    email: str
    success: bool
    plan: LegacyPlan | None = absent()
    error: str | None = absent()


class DurationsUpdated(BaseModel):
    message: str
    results: list[DurationResult]


# --- ZPay ----------------------------------------------------------------------------------------------
class CreateOrder(Body):
    """Checked by the use case, with the legacy messages (a missing field is not a schema error)."""

    plan: str | None = Field(default=None, max_length=32)
    duration: StrictInt | None = None
    payType: str | None = Field(default=None, max_length=16)


class OrderCreated(BaseModel):
    orderId: str
    paymentUrl: str
    amount: str  # yuan, two decimals
    currency: str


class OrderView(BaseModel):
    """An order as the legacy front end reads it: every value a string, times in epoch ms."""

    orderId: str
    status: Literal["pending", "paid", "failed"]
    planName: str
    duration: str
    amount: str
    createdAt: str
    paidAt: str | None


class OrderStatus(OrderView):
    tradeNo: str | None
    userInfo: UserInfo | None


class HistoryOrder(OrderView):
    payType: str


class OrderHistory(BaseModel):
    orders: list[HistoryOrder]
    count: int
