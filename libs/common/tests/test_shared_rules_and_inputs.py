"""The shared rule of plans, typed event handlers, hot-route inputs and domain errors (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ds_common.errors import DomainError, Forbidden
from ds_common.events.consumer import Batched, Delivery, PoisonMessage, handlers
from ds_common.events.contracts import Entitlement, UserRegistered, paid_until
from ds_common.events.envelope import Envelope, new_event
from ds_common.settings import ServiceSettings
from ds_common.web import FastQuery, create_app
from fastapi import APIRouter, Request

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("entitlement", "paid"), [
    (Entitlement(), False),  # Free
    (Entitlement(plan="Pro", expires_at=NOW + timedelta(days=1)), True),
    (Entitlement(plan="Pro", expires_at=NOW - timedelta(seconds=1)), False),  # expired at read time
    (Entitlement(plan="Pro", expires_at=NOW), False),  # ends exactly now
    (Entitlement(plan="Premium", expires_at=None), True),  # no expiry
    (Entitlement(plan="Basic", status="expired", expires_at=NOW + timedelta(days=3)), False),
    (Entitlement(plan="Basic", status="cancelled", expires_at=NOW + timedelta(days=3)), True),  # until it ends
    # a renewal that is due does not extend access: billing folds renewals into expires_at
    (Entitlement(plan="Pro", is_recurring=True, expires_at=NOW - timedelta(hours=1),
                 next_payment_at=NOW + timedelta(days=1)), False),
])
def test_whether_a_plan_is_paid_is_one_rule(entitlement: Entitlement, paid: bool) -> None:
    assert entitlement.is_paid(NOW) is paid
    assert (paid_until(entitlement.model_dump(), NOW) is not None) is paid  # a projection's stored form
    assert paid_until(None, NOW) is None


def registered(user: str = "u1") -> Envelope:
    return new_event(UserRegistered(user_id=user, email=f"{user}@x.test", username=user, created_at=NOW),
                     key=user, sequence=1)


async def test_handlers_are_registered_by_contract_and_get_parsed_payloads() -> None:
    seen: list[tuple[str, str]] = []
    batches: list[list[str]] = []

    async def on_registered(data: UserRegistered, event: Envelope) -> None:
        seen.append((data.email, event.producer))

    async def on_batch(deliveries: list[Delivery]) -> None:
        batches.append([d.data.user_id for d in deliveries])

    by_topic = handlers({UserRegistered: on_registered})
    await by_topic["user.registered"](registered())
    assert seen == [("u1@x.test", "auth")]  # the producer is the contract's
    batched = handlers({UserRegistered: Batched(on_batch, every_s=2.0)})["user.registered"]
    assert isinstance(batched, Batched) and batched.every_s == 2.0
    await batched.handle([Delivery(registered("a"), 0, 1), Delivery(registered("b"), 0, 2)])
    assert batches == [["a", "b"]]
    with pytest.raises(PoisonMessage):  # a payload that does not parse can never succeed
        await by_topic["user.registered"](registered().model_copy(update={"data": {"user_id": "x"}}))


class Refused(DomainError):
    pass


async def test_hot_inputs_and_domain_errors_answer_clear_4xx() -> None:
    query = FastQuery(required=("channelId", "videoId"), optional=("page",), missing="Missing channelId or videoId",
                      ids=("channelId", "videoId"))
    router = APIRouter()

    @router.get("/hot", openapi_extra=query.openapi())
    async def hot(request: Request) -> dict[str, str]:
        return query.read(request)

    @router.get("/refused")
    async def refused() -> None:
        raise Refused("Not with this plan", reason="quota")

    app = create_app(ServiceSettings(service_name="example"), title="x", routers=[router], errors={Refused: Forbidden})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ok = await client.get("/hot", params={"channelId": "c1", "videoId": "v_1-x"})
        assert ok.json() == {"channelId": "c1", "videoId": "v_1-x"}
        assert (await client.get("/hot", params={"channelId": "c1"})).json() == {
            "error": "Missing channelId or videoId"}
        assert (await client.get("/hot", params={"channelId": "c:1", "videoId": "v"})).json() == {
            "error": "Invalid channelId"}
        answer = await client.get("/refused")
        assert answer.status_code == 403 and answer.json() == {"error": "Not with this plan", "reason": "quota"}
        documented = (await client.get("/openapi.json")).json()["paths"]["/hot"]["get"]["parameters"]
        assert [(p["name"], p["required"]) for p in documented] == [("channelId", True), ("videoId", True),
                                                                  ("page", False)]
