"""Buying a plan with ZPay (Alipay / WeChat Pay), the front end's only payment option.

An order is stored (durably) before the learner is sent to ZPay's payment page. ZPay then tells
us the outcome in a signed server-to-server notify, which it repeats until it reads "success";
the front end meanwhile polls the order's status, which asks ZPay's order API while the order is
pending. Whichever confirms the payment first, and however often the confirmation comes, the
order is marked paid once and the plan is granted once: the grant is the entitlement store's
operation `zpay:<order id>`, applied at most once (the same path as Stripe's and codes' grants:
ledger entry with before and after, `plan.changed`, `payment.completed`).

A notify with a bad signature, another merchant's id, an unknown order or a wrong amount changes
nothing and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ds_common.clock import Clock, to_ms
from ds_common.errors import BadRequest, NotFound
from ds_common.mongo import Document

from ds_billing.adapters.entitlements import AccountChange, EntitlementStore, Payment
from ds_billing.adapters.provider import ProviderUnavailable
from ds_billing.adapters.users import Users
from ds_billing.adapters.zpay import InvalidNotification, ZPayProvider
from ds_billing.adapters.zpay_orders import ZPayOrders
from ds_billing.domain import zpay
from ds_billing.domain.entitlement import Account, legacy_plan
from ds_billing.domain.plans import offer_for
from ds_billing.settings import PlanOffer

logger = logging.getLogger("ds.billing.zpay")
PAY_TYPES = ("alipay", "wxpay")
HISTORY_LIMIT = 100


class ZPayPayments:
    def __init__(self, orders: ZPayOrders, provider: ZPayProvider, store: EntitlementStore, users: Users,
                 plans: Mapping[str, PlanOffer], clock: Clock) -> None:
        self.orders = orders
        self.provider = provider
        self.store = store
        self.users = users
        self.plans = plans
        self.clock = clock

    async def create_order(self, user_id: str, plan: str | None, duration: Any, pay_type: str | None) -> dict[str, Any]:
        if not plan or not duration or not pay_type:
            raise BadRequest("Plan, duration, and payType are required")
        offer = offer_for(self.plans, plan, duration, currency="cny")  # ZPay charges in yuan
        if pay_type not in PAY_TYPES:
            raise BadRequest("Invalid payment type")
        order_id = zpay.new_order_id()
        description = f"Dictation Studio - {plan} Plan - {offer.days} Days"
        url = self.provider.payment_url(order_id, description, offer.price_minor, pay_type)
        await self.orders.add({"_id": order_id, "user_id": user_id, "plan": plan, "days": offer.days,
                               "amount_fen": offer.price_minor, "currency": "CNY", "pay_type": pay_type,
                               "status": "pending", "created_at": self.clock.now(), "payment_url": url})
        logger.info("ZPay order %s created for %s (%s)", order_id, user_id, plan)
        return {"orderId": order_id, "paymentUrl": url, "amount": zpay.to_money(offer.price_minor), "currency": "CNY"}

    async def notified(self, params: Mapping[str, str]) -> bool:
        """ZPay's notify; True when it may stop repeating it ("success")."""
        try:
            payment = self.provider.verify_notification(params)
        except InvalidNotification as exc:
            logger.warning("ZPay notify refused (%s) for order %r", exc, params.get("out_trade_no"))
            return False
        order = await self.orders.get(payment.order_id) if zpay.is_order_id(payment.order_id) else None
        if order is None:
            logger.warning("ZPay notify for an unknown order %r refused", payment.order_id)
            return False
        if not payment.paid:
            await self.orders.mark_failed(order["_id"], at=self.clock.now())
            logger.warning("ZPay says order %s was not paid (%r)", order["_id"], params.get("trade_status"))
            return True
        if payment.amount_fen != order["amount_fen"]:
            logger.error("ZPay notify for order %s refused: amount %r, the order's is %s fen",
                         order["_id"], params.get("money"), order["amount_fen"])
            return False
        await self._confirmed(order, payment, by="notify", evidence=dict(params))
        return True

    async def status(self, user_id: str, order_id: str) -> dict[str, Any]:
        """The order's status for its owner (anyone else: not found), asking ZPay while pending."""
        order = await self.orders.get(order_id) if zpay.is_order_id(order_id) else None
        if order is None or order["user_id"] != user_id:
            raise NotFound("Order not found")
        if order["status"] == "pending":
            order = await self._ask_zpay(order)
        elif order["status"] == "paid":
            await self._grant(order)  # a confirmation whose grant was interrupted completes here
        user_info = None
        if order["status"] == "paid":
            entitlement = await self.store.current(user_id)
            user_info = {"email": await self.users.email_of(user_id), "plan": legacy_plan(entitlement)}
        return {**order_view(order), "tradeNo": order.get("trade_no"), "userInfo": user_info}

    async def history(self, user_id: str, limit: int = HISTORY_LIMIT) -> dict[str, Any]:
        orders = [{**order_view(o), "payType": o["pay_type"]} for o in await self.orders.of_user(user_id, limit)]
        return {"orders": orders, "count": len(orders)}

    async def _ask_zpay(self, order: Document) -> Document:
        try:
            payment = await self.provider.query(order["_id"])
        except ProviderUnavailable:
            return order  # still pending for the learner; the next poll asks again
        if payment is None or not payment.paid:
            return order
        if payment.amount_fen != order["amount_fen"]:
            logger.error("ZPay's order API reports %s paid with %s fen, the order's is %s fen",
                         order["_id"], payment.amount_fen, order["amount_fen"])
            return order
        return await self._confirmed(order, payment, by="query", evidence=None)

    async def _confirmed(self, order: Document, payment: zpay.Payment, *, by: str,
                         evidence: dict[str, Any] | None) -> Document:
        paid = await self.orders.mark_paid(order["_id"], trade_no=payment.trade_no, at=self.clock.now(), by=by,
                                           evidence=evidence) or order
        await self._grant(paid)
        return paid

    async def _grant(self, order: Document) -> None:
        """The order's plan, granted once whatever calls it and however often."""
        plan, days, op = order["plan"], order["days"], f"zpay:{order['_id']}"
        reference = order.get("trade_no") or order["_id"]
        receipt = Payment("zpay", plan, days, order["amount_fen"], "cny", reference)

        def grant(account: Account, now: datetime) -> AccountChange:
            return AccountChange(account.grant(grant_id=op, plan=plan, days=days, now=now, source="zpay"), "grant",
                                 receipt)

        outcome = await self.store.apply(order["user_id"], op, grant, source="zpay", actor=f"zpay:{reference}",
                                         reason="zpay order paid")
        if outcome.applied:
            logger.info("ZPay order %s granted %s for %d days", order["_id"], plan, days)


def order_view(order: Document) -> dict[str, Any]:
    """An order as the legacy front end reads it: every value a string, times in epoch ms."""
    paid_at = order.get("paid_at")
    return {"orderId": order["_id"], "status": order["status"], "planName": order["plan"],
            "duration": str(order["days"]), "amount": zpay.to_money(order["amount_fen"]),
            "createdAt": str(to_ms(order["created_at"])), "paidAt": str(to_ms(paid_at)) if paid_at else None}
