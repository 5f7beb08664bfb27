"""POST /payment/webhook: verify, put on Kafka, acknowledge. Fulfilment happens in the consumer.

The signature covers the raw body, so the body is read as bytes and never re-serialized (the
gateway passes it through untouched). Types outside the allow-list are acknowledged and dropped,
so Stripe stops resending them.
"""

from __future__ import annotations

import logging
from typing import Annotated

from ds_common.errors import BadRequest, PayloadTooLarge, ServiceUnavailable
from fastapi import APIRouter, Depends, Request

from ds_billing.adapters.provider import InvalidWebhook
from ds_billing.api.context import Context, ctx
from ds_billing.domain import stripe_facts
from ds_billing.domain.stripe_facts import ALLOWED_TYPES
from ds_billing.fulfilment import EventBusUnavailable

logger = logging.getLogger("ds.billing.webhook")
router = APIRouter(prefix="/payment")
MAX_BODY = 256 * 1024  # Stripe events are a few KB


@router.post("/webhook")
async def webhook(request: Request, c: Annotated[Context, Depends(ctx)]) -> dict[str, bool]:
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise PayloadTooLarge("Request body too large")
    payload = await request.body()
    if len(payload) > MAX_BODY:
        raise PayloadTooLarge("Request body too large")
    try:
        event = c.provider.verify_webhook(payload, request.headers.get("stripe-signature"))
    except InvalidWebhook as exc:
        raise BadRequest(str(exc)) from None
    if event.type not in ALLOWED_TYPES:
        return {"success": True, "ignored": True}
    try:
        fact = stripe_facts.read(event.type, event.created, event.object)
    except (KeyError, TypeError, ValueError):
        # Signed by Stripe but not something we can act on: resending it would not help.
        logger.warning("unreadable Stripe %s event %s acknowledged and dropped", event.type, event.id)
        return {"success": True, "ignored": True}
    try:
        is_new = await c.inbox.accept(event, fact)
    except EventBusUnavailable:
        logger.warning("Stripe %s event %s not accepted: Kafka unavailable", event.type, event.id)
        raise ServiceUnavailable("Event could not be stored, please retry") from None
    return {"success": True, "duplicate": not is_new}
