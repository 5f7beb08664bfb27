"""Stripe, one of billing's two payment providers (ZPay, the front end's, is adapters/zpay.py).

Each provider adapter turns its protocol into facts billing decides on (a checkout paid, a
subscription's state, a refund); every grant then goes through the one entitlement store. Stripe
goes through the official library (`StripeClient`, async HTTP through httpx) with a
deterministic idempotency key on every write, so a retried request never creates a second
session or a second cancellation. Webhooks are verified on the raw body with
`WebhookSignature.verify_header` (HMAC-SHA256 over "t.body", constant-time, timestamp tolerance).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import stripe
from ds_common.web import parse_json


class ProviderError(Exception):
    """The provider refused the request (bad parameters, unknown object)."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or failed; the caller may retry."""


class InvalidWebhook(Exception):
    pass


@dataclass(frozen=True)
class CheckoutRequest:
    user_id: str
    email: str | None
    plan: str
    recurring: bool
    price_id: str
    success_url: str
    cancel_url: str
    idempotency_key: str


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None


@dataclass(frozen=True)
class VerifiedEvent:
    id: str
    type: str
    created: datetime
    livemode: bool
    object: dict[str, Any]


class PaymentProvider(Protocol):
    name: str

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession: ...

    async def checkout_payment_status(self, session_id: str) -> str: ...

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None: ...

    def verify_webhook(self, payload: bytes, signature: str | None) -> VerifiedEvent: ...

    async def aclose(self) -> None: ...


class StripeProvider:
    name = "stripe"

    def __init__(self, *, api_key: str, api_base: str, webhook_secret: str, tolerance_s: int = 300,
                 timeout_s: float = 10.0) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self.client = stripe.StripeClient(api_key, base_addresses={"api": api_base}, http_client=self._http,
                                          max_network_retries=2)
        self.webhook_secret = webhook_secret
        self.tolerance_s = tolerance_s

    async def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        # Who and what travel in metadata too, so every later object (subscription, invoice)
        # can be tied back to the user even when events arrive before we stored the session.
        metadata = {"user_id": request.user_id, "plan": request.plan}
        params: dict[str, Any] = {
            "mode": "subscription" if request.recurring else "payment",
            "line_items": [{"price": request.price_id, "quantity": 1}],
            "payment_method_types": ["card"],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": request.user_id,
            "metadata": metadata,
        }
        if request.email:
            params["customer_email"] = request.email
        if request.recurring:
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["payment_intent_data"] = {"metadata": metadata}
        session = await self._call(self.client.v1.checkout.sessions.create_async(
            params, {"idempotency_key": request.idempotency_key}))  # type: ignore[arg-type]
        return CheckoutSession(id=session.id, url=session.url)

    async def checkout_payment_status(self, session_id: str) -> str:
        session = await self._call(self.client.v1.checkout.sessions.retrieve_async(session_id))
        return str(session.payment_status)

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None:
        await self._call(self.client.v1.subscriptions.update_async(
            subscription_id, {"cancel_at_period_end": True}, {"idempotency_key": idempotency_key}))

    def verify_webhook(self, payload: bytes, signature: str | None) -> VerifiedEvent:
        # The library checks the signature; the body is then read as plain JSON (building the
        # library's event objects costs 15x more and is the hottest line of the webhook path).
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(text, signature or "", self.webhook_secret, self.tolerance_s)
            event = parse_json(text)
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook("Invalid signature") from exc
        except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
            raise InvalidWebhook("Invalid payload") from exc
        try:
            obj = event["data"]["object"]
            if not isinstance(obj, dict):
                raise TypeError("data.object is not an object")
            return VerifiedEvent(id=str(event["id"]), type=str(event["type"]),
                                 created=datetime.fromtimestamp(int(event["created"]), tz=UTC),
                                 livemode=bool(event.get("livemode", False)), object=obj)
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
            raise InvalidWebhook("Invalid payload") from exc

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    @staticmethod
    async def _call(pending: Any) -> Any:
        try:
            return await pending
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            raise ProviderUnavailable(str(exc.user_message or "Payment provider unavailable")) from exc
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or "Payment provider rejected the request")) from exc
