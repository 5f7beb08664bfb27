"""ZPay purchases against the local ZPay stand-in (deploy/local/zpay_server.py) and the real stores:
one grant per paid order whichever confirmation comes first and however often; forged, tampered,
unknown and unpaid notifies change nothing; owners only; durable orders."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from billing_helpers import Billing
from ds_billing.domain import zpay
from ds_common.events.outbox import OUTBOX

pytestmark = pytest.mark.integration


async def order(billing: Billing, user: str, plan: str = "Pro", days: int = 90) -> dict[str, Any]:
    r = await billing.client.post("/payment/zpay/create-order", headers=billing.headers(user),
                                  json={"plan": plan, "duration": days, "payType": "alipay"})
    assert r.status_code == 200, r.text
    return r.json()


async def zpay_pays(billing: Billing, created: dict[str, Any], **options: Any) -> dict[str, str]:
    """The learner opens ZPay's page and pays; returns the signed notify ZPay would send (not delivered)."""
    assert (await submit_page(billing, created["paymentUrl"])).status_code == 200
    async with httpx.AsyncClient(base_url=billing.settings.zpay_base_url) as stand_in:
        r = await stand_in.post("/_control/pay", json={"out_trade_no": created["orderId"], "deliver": False,
                                                       **options})
        assert r.status_code == 200, r.text
        notify: dict[str, str] = r.json()["notify"]
        return notify


async def submit_page(billing: Billing, payment_url: str) -> httpx.Response:
    async with httpx.AsyncClient() as browser:
        return await browser.get(payment_url)


async def notify(billing: Billing, params: dict[str, str]) -> httpx.Response:
    return await billing.client.get("/payment/zpay/notify", params=params)


async def status(billing: Billing, user: str, order_id: str) -> httpx.Response:
    return await billing.client.get(f"/payment/zpay/order-status/{order_id}", headers=billing.headers(user))


async def grants(billing: Billing, user: str) -> list[dict[str, Any]]:
    return [entry for entry in await billing.ledger(user) if entry["op"].startswith("zpay:")]


def test_signature_and_amounts() -> None:
    params = {"pid": "1000", "type": "alipay", "out_trade_no": "DS_ZPAY_1", "money": "19", "name": "Plan",
              "sitename": "", "sign": "x", "sign_type": "MD5"}
    # MD5 of "money=19&name=Plan&out_trade_no=DS_ZPAY_1&pid=1000&type=alipayKEY": sorted, without sign,
    # sign_type and empty values, the key appended (the epay rule)
    assert zpay.signature(params, "KEY") == "a83ed45953f5c8e7a5fabdcaa33dc3bc"
    assert zpay.has_valid_signature(zpay.signed(params, "KEY"), "KEY")
    assert not zpay.has_valid_signature({**zpay.signed(params, "KEY"), "money": "20"}, "KEY")
    assert zpay.to_fen("19") == zpay.to_fen("19.00") == zpay.to_fen("19.0") == 1900
    assert [zpay.to_fen(m) for m in ("0.01", "89.00", "19.001", "-1", "1e3", "", "19.", "abc")] == [
        1, 8900, None, None, None, None, None, None]
    assert zpay.to_money(1900) == "19.00" and zpay.is_order_id(zpay.new_order_id())


async def test_a_purchase_from_order_to_plan(billing: Billing) -> None:
    user, _ = await billing.register_user()
    created = await order(billing, user)
    assert created["amount"] == "49.00" and created["currency"] == "CNY"
    assert zpay.is_order_id(created["orderId"])
    url = urlsplit(created["paymentUrl"])
    assert created["paymentUrl"].startswith(billing.settings.zpay_base_url + "/submit.php?")
    sent = dict(parse_qsl(url.query))
    assert sent["out_trade_no"] == created["orderId"] and sent["money"] == "49.00" and sent["type"] == "alipay"
    assert sent["notify_url"] == billing.settings.zpay_notify_url and sent["sign_type"] == "MD5"
    page = await submit_page(billing, created["paymentUrl"])  # ZPay accepts our signature
    assert page.status_code == 200 and "49.00" in page.text

    history = (await billing.client.get("/payment/zpay/history", headers=billing.headers(user))).json()
    assert history["count"] == 1 and history["orders"][0] | {"createdAt": "t"} == {
        "orderId": created["orderId"], "status": "pending", "planName": "Pro", "duration": "90", "amount": "49.00",
        "payType": "alipay", "createdAt": "t", "paidAt": None}
    pending = (await status(billing, user, created["orderId"])).json()
    assert pending["status"] == "pending" and pending["userInfo"] is None

    params = await zpay_pays(billing, created)
    reply = await notify(billing, params)
    assert (reply.status_code, reply.text) == (200, "success")
    assert reply.headers["content-type"].startswith("text/plain")
    paid = (await status(billing, user, created["orderId"])).json()
    assert paid["status"] == "paid" and paid["tradeNo"] == params["trade_no"]
    assert paid["userInfo"]["plan"]["name"] == "Pro" and int(paid["paidAt"]) >= int(paid["createdAt"])
    [entry] = await grants(billing, user)
    assert entry["payment"] == {"provider": "zpay", "plan": "Pro", "days": 90, "amount_minor": 4900,
                                "currency": "cny", "provider_ref": params["trade_no"]}
    assert entry["before"]["plan"] == "Free" and entry["after"]["plan"] == "Pro"
    doc = await billing.entitlement(user)
    assert {e["type"] for e in doc.get(OUTBOX, [])} <= {"plan.changed", "payment.completed"}
    assert (await billing.db.zpay_orders.find_one({"_id": created["orderId"]}))["confirmed_by"] == "notify"


async def test_repeated_and_concurrent_notifies_grant_once(billing: Billing) -> None:
    user, _ = await billing.register_user()
    created = await order(billing, user, "Basic", 30)
    params = await zpay_pays(billing, created)
    replies = [await notify(billing, params) for _ in range(10)]
    replies += await asyncio.gather(*(notify(billing, params) for _ in range(20)))
    assert {r.text for r in replies} == {"success"}
    [entry] = await grants(billing, user)
    expires = (await billing.entitlement(user))["entitlement"]["expires_at"]
    assert timedelta(days=29, hours=23) < expires - entry["at"] <= timedelta(days=30)  # granted once, not stacked


async def test_a_notify_racing_the_status_poll_grants_once(billing: Billing) -> None:
    user, _ = await billing.register_user()
    created = await order(billing, user, "Premium", 180)
    params = await zpay_pays(billing, created)  # paid at ZPay: its order API says so too
    answers = await asyncio.gather(*(notify(billing, params) for _ in range(5)),
                                   *(status(billing, user, created["orderId"]) for _ in range(5)))
    assert {a.status_code for a in answers} == {200}
    assert [a.json()["status"] for a in answers[5:]] == ["paid"] * 5
    assert len(await grants(billing, user)) == 1


async def test_the_status_poll_alone_completes_a_purchase_and_a_late_notify_changes_nothing(billing: Billing) -> None:
    user, _ = await billing.register_user()
    created = await order(billing, user)
    params = await zpay_pays(billing, created)  # the notify is lost on its way
    assert (await status(billing, user, created["orderId"])).json()["status"] == "paid"
    stored = await billing.db.zpay_orders.find_one({"_id": created["orderId"]})
    assert stored["confirmed_by"] == "query"
    billing.clock.advance(timedelta(days=3))  # ZPay's repeats reach us days later
    try:
        assert (await notify(billing, params)).text == "success"
    finally:
        billing.clock.advance(-timedelta(days=3))
    assert len(await grants(billing, user)) == 1


async def test_forged_tampered_unknown_and_unpaid_notifies_change_nothing(billing: Billing) -> None:
    user, _ = await billing.register_user()
    created = await order(billing, user, "Basic", 30)
    key = billing.settings.zpay_key.get_secret_value()
    genuine = await zpay_pays(billing, created)
    bare = {k: v for k, v in genuine.items() if k not in ("sign", "sign_type")}
    forged = [
        {**genuine, "sign": "0" * 32},  # a bad signature
        {**genuine, "money": "0.01"},  # the amount changed after signing
        zpay.signed({**bare, "money": "0.01"}, "not-our-key"),  # signed by someone else
        zpay.signed({**bare, "pid": "9999"}, key),  # another merchant's notify
        zpay.signed({**bare, "money": "0.01"}, key),  # signed, but not the order's amount
        zpay.signed({**bare, "out_trade_no": zpay.new_order_id()}, key),  # an order we never made
        zpay.signed({**bare, "out_trade_no": "../../etc"}, key),  # not an order id at all
        {},
    ]
    for params in forged:
        reply = await notify(billing, params)
        assert (reply.status_code, reply.text) == (400, "fail"), params
    repeated = await billing.client.get(f"/payment/zpay/notify?{httpx.QueryParams(genuine)}&pid=1000")
    assert repeated.text == "fail"  # a parameter given twice is not ZPay's
    assert await grants(billing, user) == []
    assert (await billing.db.zpay_orders.find_one({"_id": created["orderId"]}))["status"] == "pending"

    unpaid = zpay.signed({**bare, "trade_status": "TRADE_CLOSED"}, key)
    assert (await notify(billing, unpaid)).text == "success"  # understood: ZPay stops repeating it
    failed = (await status(billing, user, created["orderId"])).json()
    assert failed["status"] == "failed" and failed["userInfo"] is None and await grants(billing, user) == []


async def test_orders_belong_to_their_learner(billing: Billing) -> None:
    owner, _ = await billing.register_user()
    other, _ = await billing.register_user()
    created = await order(billing, owner)
    for who in (other, f"u-{created['orderId']}"):
        r = await status(billing, who, created["orderId"])
        assert r.status_code == 404 and r.json() == {"error": "Order not found"}
    assert (await billing.client.get("/payment/zpay/history", headers=billing.headers(other))).json() == {
        "orders": [], "count": 0}
    assert (await billing.client.get(f"/payment/zpay/order-status/{created['orderId']}")).status_code == 401
    assert (await status(billing, owner, "DS_ZPAY_0000000000_ABCDEF12")).status_code == 404


@pytest.mark.parametrize(("body", "message"), [
    ({"plan": "Pro", "duration": 90}, "Plan, duration, and payType are required"),
    ({"plan": "Gold", "duration": 90, "payType": "alipay"}, "Invalid plan selected"),
    ({"plan": "Pro", "duration": 36500, "payType": "alipay"}, "Invalid duration for Pro plan. Expected 90 days"),
    ({"plan": "Pro", "duration": 90, "payType": "paypal"}, "Invalid payment type"),
    ({"plan": "Pro", "duration": "90", "payType": "alipay"}, None),
    ({"plan": "Pro", "duration": 90, "payType": "alipay", "money": "0.01"}, None),
])
async def test_an_order_names_a_plan_and_nothing_else(billing: Billing, body: dict[str, Any],
                                                      message: str | None) -> None:
    r = await billing.client.post("/payment/zpay/create-order", json=body, headers=billing.headers("u-orders"))
    assert r.status_code == 400 and (message is None or r.json() == {"error": message}), r.text


async def test_zpay_unreachable_leaves_the_order_pending(billing: Billing) -> None:
    user, _ = await billing.register_user()
    created = await order(billing, user)
    provider = billing.api.state.ctx.zpay.provider
    reachable, provider.base_url = provider.base_url, "http://127.0.0.1:9"
    try:
        r = await status(billing, user, created["orderId"])
    finally:
        provider.base_url = reachable
    assert r.status_code == 200 and r.json()["status"] == "pending"


def test_production_refuses_to_start_without_the_zpay_merchant() -> None:
    from ds_billing.settings import Settings
    from pydantic import SecretStr, ValidationError

    secrets = {name: SecretStr("set") for name in ("stripe_api_key", "stripe_webhook_secret", "code_secret")}
    with pytest.raises(ValidationError, match="zpay_key"):
        Settings(environment="production", **secrets)
    with pytest.raises(ValidationError, match="ZPay settings"):
        Settings(environment="production", zpay_key=SecretStr("k"), **secrets)
    Settings(environment="production", zpay_key=SecretStr("k"), zpay_pid="2025", zpay_base_url="https://zpayz.cn",
             zpay_notify_url="https://x.test/ds/payment/zpay/notify", zpay_return_url="https://x.test/p", **secrets)
