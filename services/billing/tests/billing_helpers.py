"""Helpers for billing's tests: signed Stripe webhooks, and the deployment under test (its clock, users,
entitlements and ledger)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import stripe
from ds_billing.adapters.users import Users
from ds_billing.settings import Settings
from ds_common.events.contracts import UserRegistered
from ds_common.events.envelope import new_event
from ds_common.events.kafka import KafkaPublisher
from ds_common.mongo import Document
from ds_common.testing.jwks import TestIssuer
from ds_common.testing.kit import MovableClock, eventually
from pymongo.asynchronous.database import AsyncDatabase

WEBHOOK_SECRET = "whsec_test_billing_secret"


def stripe_event(stripe_type: str, obj: dict[str, Any], *, event_id: str | None = None,
                 created: int | None = None) -> str:
    """A Stripe event body as Stripe sends it (the raw text the signature covers)."""
    return json.dumps({
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "api_version": "2025-09-30.clover",
        "created": created or int(time.time()), "livemode": False, "pending_webhooks": 1,
        "type": stripe_type, "data": {"object": obj},
    })


def signed(body: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


@dataclass
class Billing:
    settings: Settings
    client: httpx.AsyncClient
    db: AsyncDatabase[Document]
    clock: MovableClock
    issuer: TestIssuer
    publisher: KafkaPublisher
    kafka: str
    api: Any  # the FastAPI app, to look inside (e.g. at the Stripe client)

    def headers(self, user_id: str, role: str = "User") -> dict[str, str]:
        return self.issuer.headers(user_id, role=role)

    async def register_user(self, email: str | None = None) -> tuple[str, str]:
        """Publish `user.registered` as auth does; wait until billing's projection knows the user."""
        user_id = f"u-{uuid.uuid4().hex[:12]}"
        email = email or f"{user_id}@example.com"
        event = new_event(UserRegistered(user_id=user_id, email=email, username=user_id,
                                         created_at=datetime.now(UTC)), key=user_id, sequence=1)
        await self.publisher.publish([event])
        users = Users(self.db)
        await eventually(lambda: users.id_for_email(email), what=f"billing knows {email}")
        return user_id, email

    async def webhook(self, stripe_type: str, obj: dict[str, Any], **kwargs: Any) -> httpx.Response:
        body = stripe_event(stripe_type, obj, **kwargs)
        return await self.client.post("/payment/webhook", content=body, headers=signed(body))

    async def entitlement(self, user_id: str) -> Document | None:
        return await self.db.entitlements.find_one({"_id": user_id})

    async def wait_version(self, user_id: str, version: int, timeout: float = 20) -> Document:
        async def reached() -> Document | None:
            doc = await self.entitlement(user_id)
            return doc if doc and doc["version"] >= version else None
        return await eventually(reached, within_s=timeout, what=f"{user_id} at version {version}")

    async def wait_fulfilled(self, event_id: str, timeout: float = 20) -> Document:
        return await eventually(lambda: self.db.stripe_events.find_one({"_id": event_id}), within_s=timeout,
                                what=f"{event_id} fulfilled")

    async def ledger(self, user_id: str) -> list[Document]:
        return await self.db.payments.find({"user_id": user_id}).sort("version", 1).to_list()
