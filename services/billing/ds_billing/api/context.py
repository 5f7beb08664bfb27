"""What the routes need, built once per API process and kept on `app.state.ctx`."""

from __future__ import annotations

from dataclasses import dataclass

from ds_common.clock import Clock
from ds_common.mongo import Document
from ds_common.redis import RateLimiter
from fastapi import Request
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.codes import Codes
from ds_billing.adapters.entitlements import EntitlementStore
from ds_billing.adapters.provider import PaymentProvider
from ds_billing.adapters.users import Users
from ds_billing.fulfilment import Inbox
from ds_billing.membership import Membership
from ds_billing.service.zpay import ZPayPayments
from ds_billing.settings import Settings


@dataclass
class Context:
    settings: Settings
    db: AsyncDatabase[Document]
    clock: Clock
    store: EntitlementStore
    users: Users
    codes: Codes
    membership: Membership
    provider: PaymentProvider
    inbox: Inbox
    limiter: RateLimiter
    zpay: ZPayPayments

    @property
    def code_key(self) -> bytes:
        return self.settings.code_secret.get_secret_value().encode()


async def ctx(request: Request) -> Context:  # async: no threadpool hop per request
    context: Context = request.app.state.ctx
    return context
