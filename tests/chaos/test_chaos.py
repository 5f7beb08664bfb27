"""The short chaos run of `make test` (`make chaos` runs every fault): on the end-to-end system
(two replicas of every process), under a learner load with a purchase and a code redemption, a
replica of progress's API and consumer and catalog's active relay are killed one at a time and
started again; every invariant holds after each, and clients saw nothing but 200 or "unavailable"."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chaos

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import seed
import system

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_killing_replicas_under_load_loses_nothing_and_applies_nothing_twice(whole_system: Any) -> None:
    await asyncio.to_thread(seed.main, whole_system.gateway, system.operator_env("test"))  # the demo catalogue
    email = f"chaos-admin-{uuid.uuid4().hex[:6]}@chaos.test"
    password = seed.create_account(system.operator_env("test"), email, "Chaos", "Admin")
    async with httpx.AsyncClient(base_url=whole_system.gateway) as client:
        token = (await client.post("/auth/login", json={"email": email, "password": password})).headers[
            "x-ds-access-token"]
    faults = [chaos.process_fault("progress-api-2"), chaos.process_fault("progress-consumer-2"),
              chaos.process_fault("catalog-relay")]
    report = await chaos.run(whole_system.gateway, webhook_secret=whole_system.webhook_secret, admin_token=token,
                             faults=faults, learners=4, warmup_s=5, during_s=4, settle_s=30)
    for row in report["faults"]:
        assert all(row["invariants"].values()), row
        assert set(row["errors"]) <= {"502", "503", "504", "no answer"}, row
        assert row["recovery_s"] < 30, row
    assert all(report["final"].values()), report["final"]
    assert report["statuses"].get("200", 0) > 50  # the load really ran
