"""What the routes need, built once per API process and kept on `app.state.ctx`, and the statuses
billing's domain refusals answer with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ds_common.errors import AppError, BadRequest, Conflict, DomainError, NotFound
from ds_common.redis import RateLimiter
from ds_common.web import AppContext, ServiceContext

from ds_billing.adapters.provider import PaymentProvider
from ds_billing.domain.codes import CodeNotFound, CodeUsed, InvalidFormat, InvalidTag
from ds_billing.domain.entitlement import NoRenewingSubscription
from ds_billing.domain.plans import PlanOrDurationRequired, UnknownPlan, WrongDuration
from ds_billing.service.checkout import Checkout
from ds_billing.service.fulfilment import Inbox
from ds_billing.service.membership import Membership
from ds_billing.service.zpay import ZPayPayments
from ds_billing.settings import Settings

ERRORS: dict[type[DomainError], type[AppError]] = {
    InvalidFormat: BadRequest,
    InvalidTag: BadRequest,
    CodeNotFound: NotFound,
    CodeUsed: Conflict,
    UnknownPlan: BadRequest,
    WrongDuration: BadRequest,
    PlanOrDurationRequired: BadRequest,
    NoRenewingSubscription: NotFound,
}


@dataclass
class Context(ServiceContext):
    """What one billing API process holds: its payment provider and use cases."""

    settings: Settings
    provider: PaymentProvider  # Stripe
    checkout: Checkout
    inbox: Inbox
    membership: Membership
    zpay: ZPayPayments
    limiter: RateLimiter


Ctx = Annotated[Context, AppContext]

