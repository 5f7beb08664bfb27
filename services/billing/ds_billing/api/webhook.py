"""POST /payment/webhook: verify, put on Kafka, acknowledge. Fulfilment happens in the consumer.

The signature covers the raw body, so the body is read as bytes and never re-serialized (the
gateway passes it through untouched). Types outside the allow-list are acknowledged and dropped,
so Stripe stops resending them. The answer is written as bytes (`json_response`): this is the
route Stripe's bursts hit, measured by bench/run.py.
"""

from __future__ import annotations

from ds_common.errors import BadRequest, PayloadTooLarge, ServiceUnavailable
from ds_common.web import json_response
from fastapi import APIRouter, Request, Response

from ds_billing.adapters.provider import InvalidWebhook
from ds_billing.api.deps import Ctx
from ds_billing.api.schemas import WebhookAnswer
from ds_billing.service.fulfilment import EventBusUnavailable

router = APIRouter(prefix="/payment")
MAX_BODY = 256 * 1024  # Stripe events are a few KB


@router.post("/webhook", response_model=WebhookAnswer)
async def webhook(request: Request, ctx: Ctx) -> Response:
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise PayloadTooLarge("Request body too large")
    payload = await request.body()
    if len(payload) > MAX_BODY:
        raise PayloadTooLarge("Request body too large")
    try:
        received = await ctx.inbox.receive(payload, request.headers.get("stripe-signature"))
    except InvalidWebhook as exc:
        raise BadRequest(str(exc)) from None
    except EventBusUnavailable:
        raise ServiceUnavailable("Event could not be stored, please retry") from None
    if received.ignored:
        return json_response({"success": True, "ignored": True})
    return json_response({"success": True, "duplicate": received.duplicate})
