"""What billing publishes, seen from the other side: progress's own `plan.changed` handler mirrors
the entitlement once and in order; `payment.completed` carries the payment; the ledger sweeper
recovers entries a crashed writer left behind."""

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from billing_helpers import Billing
from ds_common.events.consumer import ConsumerRunner
from ds_common.events.consumer import handlers as by_topic
from ds_common.events.contracts import paid_until
from ds_common.events.envelope import Envelope
from ds_common.runtime import Stores
from ds_common.testing.kafka import start_group_at_end
from ds_common.testing.kit import eventually
from ds_progress.adapters.collections import ENTITLEMENTS as PROGRESS_ENTITLEMENTS
from ds_progress.messaging.handlers import handlers as progress_handlers

pytestmark = pytest.mark.integration


async def mint_and_redeem(billing: Billing, user: str, duration: str) -> str:
    admin = billing.headers("admin-ev", "Admin")
    code = (await billing.client.post("/payment/generate-code", headers=admin, json={"duration": duration})).json()
    r = await billing.client.post("/payment/verify-code", headers=billing.headers(user), json={"code": code["code"]})
    assert r.status_code == 200, r.text
    return code["code"].split("-")[0]


def progress_mirror(stores: Stores) -> Any:
    """Progress's `plan.changed` handler as the consumer runner calls it (with an envelope)."""
    return by_topic(progress_handlers(stores))["plan.changed"]


async def test_progress_mirrors_plan_changed_once_and_in_order(billing: Billing, mongo_db, redis) -> None:
    group = f"billing-test-mirror-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(billing.kafka, group, ["plan.changed", "payment.completed"])
    user, _ = await billing.register_user()
    seen: dict[str, list[Envelope]] = {"plan.changed": [], "payment.completed": []}
    mirror = progress_mirror(Stores(mongo=None, db=mongo_db, redis=redis))  # type: ignore[arg-type]

    async def plan_changed(event: Envelope) -> None:
        seen["plan.changed"].append(event)
        await mirror(event)

    async def payment_completed(event: Envelope) -> None:
        seen["payment.completed"].append(event)

    def of(kind: str) -> list[Envelope]:
        return [e for e in seen[kind] if e.key == user]

    runner = ConsumerRunner(bootstrap=billing.kafka, group=group,
                            handlers={"plan.changed": plan_changed, "payment.completed": payment_completed})
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await mint_and_redeem(billing, user, "30days")
        random_part = await mint_and_redeem(billing, user, "90days")
        mirrored = await eventually(lambda: mongo_db[PROGRESS_ENTITLEMENTS].find_one({"_id": user, "_seq": 2}))
        assert mirrored["plan"] == "Premium" and paid_until(mirrored, datetime.now(UTC)) is not None
        ours = of("plan.changed")
        assert [e.sequence for e in ours] == [1, 2] and ours[1].data["source"] == "code"
        await eventually(lambda: len(of("payment.completed")) == 2)
        last = of("payment.completed")[-1]
        assert last.data["payment_id"] == f"code:{random_part}" and last.data["provider"] == "code"
        assert last.data["plan"] == "Premium" and last.data["days"] == 90 and last.sequence == 2
        # Redelivery of the newest event and a late copy of the older one: the mirror does not move.
        await billing.publisher.publish([ours[1], ours[0]])
        await eventually(lambda: len(of("plan.changed")) == 4)
        again = await mongo_db[PROGRESS_ENTITLEMENTS].find_one({"_id": user})
        assert again["_seq"] == 2 and again["plan"] == "Premium"
        assert again["expires_at"] == mirrored["expires_at"]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 15)


async def test_the_sweeper_copies_ledger_entries_left_by_a_writer_that_died(billing: Billing) -> None:
    user = f"u-{uuid.uuid4().hex[:12]}"
    entry = {"_id": f"{user}:1", "user_id": user, "version": 1, "at": datetime.now(UTC), "op": "test:crash",
             "kind": "grant", "source": "admin", "actor": "test", "reason": "", "before": {}, "after": {},
             "payment": None}
    # What a writer leaves when it dies between its entitlement write and the copy to the ledger.
    await billing.db.entitlements.insert_one({"_id": user, "version": 1, "account": {}, "applied": ["test:crash"],
                                              "updated_at": billing.clock.now(), "_ledger": [entry]})
    copied = await eventually(lambda: billing.db.payments.find_one({"_id": f"{user}:1"}), within_s=10)
    assert copied["op"] == "test:crash" and copied["user_id"] == user
