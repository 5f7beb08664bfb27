"""Membership codes and admin plan changes over HTTP on the real stores: roles, HMAC, single use
under concurrency, expiry, rate limit, stacking with a moved clock, audit and ledger."""

import asyncio
from datetime import timedelta

import pytest
from billing_helpers import Billing
from ds_common.testing.kit import eventually

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


async def mint(billing: Billing, duration: str = "30days", admin: str = "admin-1") -> str:
    r = await billing.client.post("/payment/generate-code", headers=billing.headers(admin, "Admin"),
                                  json={"duration": duration})
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 3600
    return r.json()["code"]


async def redeem(billing: Billing, user: str, code: str):
    return await billing.client.post("/payment/verify-code", headers=billing.headers(user), json={"code": code})


async def test_admin_routes_refuse_learners_and_anonymous_callers(billing: Billing) -> None:
    calls = [("POST", "/payment/generate-code", {"duration": "30days"}),
             ("POST", "/payment/generate-custom-code", {"days": 3650}),
             ("GET", "/payment/verification-codes", None),
             ("POST", "/payment/assign-code", {"code": "0" * 16 + "-" + "0" * 8, "userEmail": "a@b.c"}),
             ("PUT", "/auth/user/plan", {"emails": ["a@b.c"], "plan": "Premium"})]
    for method, path, body in calls:
        learner = await billing.client.request(method, path, json=body, headers=billing.headers("learner-1"))
        assert learner.status_code == 403 and learner.json() == {"error": "Admin access required"}, path
        anonymous = await billing.client.request(method, path, json=body)
        assert anonymous.status_code == 401, path
    assert await billing.db.codes.count_documents({"created_by": "learner-1"}) == 0
    assert await billing.db.audit.count_documents({"actor": "learner-1"}) == 0


async def test_redeeming_codes_stacks_time_and_keeps_the_higher_tier(billing: Billing) -> None:
    user, _ = await billing.register_user()
    r = await redeem(billing, user, await mint(billing, "30days"))
    assert r.status_code == 200 and r.json()["message"] == "Membership successfully applied"
    first = r.json()["plan"]
    assert first["name"] == "Basic" and first["isRecurring"] is False and first["status"] == "active"
    billing.clock.advance(10 * DAY)
    try:
        second = (await redeem(billing, user, await mint(billing, "60days"))).json()["plan"]
        # 20 days were left: they are kept, and the tier is the higher one.
        assert second["name"] == "Pro" and second["expireTime"] == first["expireTime"] + 60 * 86_400_000
        billing.clock.advance(81 * DAY)  # past the stacked end: expired at read time
        third = (await redeem(billing, user, await mint(billing, "30days"))).json()["plan"]
        assert third["name"] == "Basic"
    finally:
        billing.clock.offset = timedelta()
    ledger = await eventually(lambda: billing.ledger(user))
    assert [e["source"] for e in ledger] == ["code", "code", "code"]
    assert ledger[1]["before"]["plan"] == "Basic" and ledger[1]["after"]["plan"] == "Pro"


async def test_two_concurrent_redemptions_of_one_code_exactly_one_wins(billing: Billing) -> None:
    for _ in range(3):
        code = await mint(billing, "90days")
        users = [(await billing.register_user())[0] for _ in range(2)]
        replies = await asyncio.gather(*(redeem(billing, u, code) for u in users))
        assert sorted(r.status_code for r in replies) == [200, 409]
        loser = next(r for r in replies if r.status_code == 409)
        assert loser.json() == {"error": "Verification code has already been used"}
        plans = [await billing.entitlement(u) for u in users]
        assert sum(p is not None and p["entitlement"]["plan"] == "Premium" for p in plans) == 1
    again = await redeem(billing, users[0], code)
    assert again.status_code == 409


async def test_forged_unknown_expired_codes_and_the_rate_limit(billing: Billing) -> None:
    user, _ = await billing.register_user()
    code = await mint(billing)
    random_part, tag = code.split("-")
    forged_tag = f"{random_part}-{'0' * 8 if tag != '0' * 8 else '1' * 8}"
    assert (await redeem(billing, user, forged_tag)).json() == {"error": "Invalid verification code"}
    assert (await redeem(billing, user, "not-a-code")).json() == {"error": "Invalid verification code format"}
    billing.clock.advance(timedelta(seconds=3601))
    try:
        expired = await redeem(billing, user, code)
        assert expired.status_code == 404 and expired.json() == {"error": "Verification code not found or expired"}
    finally:
        billing.clock.offset = timedelta()
    # 10 attempts per user per minute (a fixed window: even across a window edge 25 must hit it).
    replies = [await redeem(billing, user, "not-a-code") for _ in range(25)]
    limited = [r for r in replies if r.status_code == 429]
    assert limited and limited[0].headers["retry-after"] and limited[0].json()["error"]
    assert {r.status_code for r in replies} == {400, 429}


async def test_listing_assigning_and_custom_codes(billing: Billing) -> None:
    user, email = await billing.register_user()
    admin = billing.headers("admin-2", "Admin")
    code = await mint(billing, "permanent", admin="admin-2")
    listed = (await billing.client.get("/payment/verification-codes", headers=admin)).json()
    entry = next(c for c in listed["codes"] if c["full_code"] == code)
    assert entry["duration"] == "permanent" and entry["days"] == 36500 and 0 < entry["remaining_seconds"] <= 3600
    unknown = await billing.client.post("/payment/assign-code", headers=admin,
                                        json={"code": code, "userEmail": "nobody@example.com"})
    assert unknown.status_code == 404 and unknown.json() == {"error": "User with email nobody@example.com not found"}
    assigned = await billing.client.post("/payment/assign-code", headers=admin,
                                         json={"code": code, "userEmail": email.upper()})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["plan"]["name"] == "Premium"
    listed = (await billing.client.get("/payment/verification-codes", headers=admin)).json()
    assert code not in [c["full_code"] for c in listed["codes"]]
    ledger = await eventually(lambda: billing.ledger(user))
    assert ledger[-1]["actor"] == "admin-2"
    bad = await billing.client.post("/payment/generate-custom-code", headers=admin, json={"days": -3})
    assert bad.status_code == 400 and bad.json() == {"error": "Invalid days specified. Must be a positive integer."}
    custom = await billing.client.post("/payment/generate-custom-code", headers=admin, json={"days": 3650})
    assert custom.status_code == 200
    audit = await billing.db.audit.find_one({"action": "code.generated", "custom": True, "actor": "admin-2"})
    assert audit is not None and audit["days"] == 3650
    extra = await billing.client.post("/payment/generate-code", headers=admin, json={"duration": "30days", "x": 1})
    assert extra.status_code == 400


async def test_admin_plan_change_goes_through_the_rules_and_the_ledger(billing: Billing) -> None:
    user, email = await billing.register_user()
    await redeem(billing, user, await mint(billing, "90days"))  # Premium, 90 days
    admin = billing.headers("admin-3", "Admin")
    r = await billing.client.put("/auth/user/plan", headers=admin,
                                 json={"emails": [email, "ghost@example.com"], "plan": "Basic", "duration": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "Plan update completed. 1 successful, 1 failed."
    ok, missing = body["results"]
    assert ok["success"] and ok["plan"]["name"] == "Basic"  # replaced, not stacked
    assert missing == {"email": "ghost@example.com", "success": False, "message": "User not found"}
    assert await billing.db.users.find_one({"email": "ghost@example.com"}) is None  # no ghost records (W28)
    doc = await billing.entitlement(user)
    assert abs(doc["entitlement"]["expires_at"] - (billing.clock.now() + 10 * DAY)) < timedelta(minutes=1)
    ledger = await eventually(lambda: billing.ledger(user))
    assert ledger[-1]["source"] == "admin" and ledger[-1]["actor"] == "admin-3"
    assert ledger[-1]["before"]["plan"] == "Premium" and ledger[-1]["after"]["plan"] == "Basic"
    free = await billing.client.put("/auth/user/plan", headers=admin, json={"emails": [email], "plan": "Free"})
    assert free.json()["results"][0]["plan"]["name"] == "Free"
    invalid = await billing.client.put("/auth/user/plan", headers=admin, json={"emails": [email], "plan": "Gold"})
    assert invalid.status_code == 400
    # The legacy "edit membership" sends days only: the plan is named from them.
    by_days = await billing.client.put("/auth/user/plan", headers=admin, json={"emails": [email], "duration": 60})
    assert by_days.json()["results"][0]["plan"]["name"] == "Pro"
    neither = await billing.client.put("/auth/user/plan", headers=admin, json={"emails": [email]})
    assert neither.status_code == 400 and neither.json() == {"error": "A plan or a duration is required"}


async def test_the_legacy_edit_membership_names_the_plan_from_days(billing: Billing) -> None:
    user, email = await billing.register_user()
    admin = billing.headers("admin-4", "Admin")
    r = await billing.client.post("/user/update-duration", headers=admin,
                                  json={"emails": [email.upper(), "ghost-edit@example.com"], "duration": 60})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "Updated 1 of 2 users"
    ok, missing = body["results"]
    assert ok["email"] == email.upper() and ok["success"] is True and set(ok) == {"email", "success", "plan"}
    assert ok["plan"]["name"] == "Pro" and ok["plan"]["isRecurring"] is False
    assert missing == {"email": "ghost-edit@example.com", "success": False, "error": "User not found"}
    assert await billing.db.users.find_one({"email": "ghost-edit@example.com"}) is None  # no ghost records (W28)
    doc = await billing.entitlement(user)
    assert abs(doc["entitlement"]["expires_at"] - (billing.clock.now() + 60 * DAY)) < timedelta(minutes=1)
    ledger = await eventually(lambda: billing.ledger(user))
    assert ledger[-1]["source"] == "admin" and ledger[-1]["actor"] == "admin-4" and ledger[-1]["kind"] == "admin_set"
    assert await billing.db.audit.find_one({"action": "plan.set", "actor": "admin-4", "user_id": user, "days": 60})
    permanent = await billing.client.post("/user/update-duration", headers=admin, json={"emails": [email],
                                                                                     "duration": -1})
    assert permanent.json()["results"][0]["plan"]["name"] == "Premium"  # -1: permanent (100 years)
    assert (await billing.entitlement(user))["entitlement"]["expires_at"] > billing.clock.now() + 36_000 * DAY

    learner = await billing.client.post("/user/update-duration", headers=billing.headers(user),
                                        json={"emails": [email], "duration": 30})
    assert learner.status_code == 403 and learner.json() == {"error": "Admin access required"}
    for refused, message in [({"emails": [], "duration": 30}, "No emails provided"),
                             ({"duration": 30}, "No emails provided"),
                             ({"emails": [email]}, "Duration is required"),
                             ({"emails": [email], "duration": 0}, "Duration is required")]:
        r = await billing.client.post("/user/update-duration", headers=admin, json=refused)
        assert r.status_code == 400 and r.json() == {"error": message}, refused
    invalid = await billing.client.post("/user/update-duration", headers=admin,
                                        json={"emails": [email], "duration": 36501})
    assert invalid.status_code == 400
    assert (await billing.entitlement(user))["version"] == 2  # nothing refused was applied
