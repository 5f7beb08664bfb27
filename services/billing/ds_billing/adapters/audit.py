"""The audit log of admin actions (code generation and assignment, plan changes): insert-only."""

from __future__ import annotations

import uuid
from typing import Any

from ds_common.clock import Clock
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from ds_billing.adapters.collections import AUDIT


class AuditLog:
    def __init__(self, db: AsyncDatabase[Document], clock: Clock) -> None:
        self.coll = db[AUDIT]
        self.clock = clock

    async def record(self, actor: str, action: str, **details: Any) -> None:
        await self.coll.insert_one({"_id": uuid.uuid4().hex, "at": self.clock.now(), "actor": actor,
                                    "action": action, **details})
