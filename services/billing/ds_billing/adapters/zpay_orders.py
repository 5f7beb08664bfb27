"""ZPay orders, durable (legacy W15 kept them 24 h in Redis): one document per order, and a list of
each learner's order ids for the history (both `_id` lookups on every store).

- zpay_orders       `_id` order id: learner, plan, days, amount in fen, pay type, status
                    (pending → paid | failed; failed → paid if ZPay later confirms it), ZPay's trade
                    number, when and how the payment was confirmed (notify or order query).
- zpay_user_orders  `_id` user id: `orders`, the learner's order ids in creation order.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ds_common.mongo import Document
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.collections import ZPAY_ORDERS, ZPAY_USER_ORDERS


class ZPayOrders:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.orders = db[ZPAY_ORDERS]
        self.by_user = db[ZPAY_USER_ORDERS]

    async def add(self, order: Document) -> None:
        await self.orders.insert_one(order)
        await self.by_user.update_one({"_id": order["user_id"]}, {"$push": {"orders": order["_id"]}}, upsert=True)

    async def get(self, order_id: str) -> Document | None:
        return await self.orders.find_one({"_id": order_id})

    async def of_user(self, user_id: str, limit: int) -> list[Document]:
        """The learner's newest orders first, at most `limit`."""
        listed = await self.by_user.find_one({"_id": user_id})
        ids = list(reversed((listed or {}).get("orders", [])))[:limit]
        found = await asyncio.gather(*(self.get(order_id) for order_id in ids))
        return [order for order in found if order is not None]

    async def mark_paid(self, order_id: str, *, trade_no: str, at: datetime, by: str,
                        evidence: dict[str, Any] | None) -> Document | None:
        """The order as paid (once; a later confirmation finds it paid and changes nothing)."""
        await self.orders.update_one({"_id": order_id, "status": {"$ne": "paid"}}, {"$set": {
            "status": "paid", "trade_no": trade_no, "paid_at": at, "confirmed_by": by, "notify": evidence}})
        return await self.get(order_id)

    async def mark_failed(self, order_id: str, *, at: datetime) -> Document | None:
        return await self.orders.find_one_and_update({"_id": order_id, "status": "pending"},
                                                     {"$set": {"status": "failed", "failed_at": at}},
                                                     return_document=ReturnDocument.AFTER)
