"""User info, preferences (allow-list), admin user list and role updates, rate limits."""

from __future__ import annotations

import httpx
import pytest
from auth_helpers import IdentityProvider, bearer, make_admin, running_api, sign_in, unique_email
from ds_auth.settings import Settings
from ds_common.events.outbox import OUTBOX
from fastapi import FastAPI

pytestmark = pytest.mark.integration


async def test_userinfo_by_email_is_own_data_only(client: httpx.AsyncClient, app: FastAPI,
                                                  idp: IdentityProvider) -> None:
    alice, bob = unique_email("alice"), unique_email("bob")
    a = (await sign_in(client, idp, alice)).headers["x-ds-access-token"]
    await sign_in(client, idp, bob)
    own = await client.get(f"/auth/userinfo/{alice.upper()}", headers=bearer(a))
    assert own.status_code == 200 and own.json()["email"] == alice and "message" not in own.json()
    other = await client.get(f"/auth/userinfo/{bob}", headers=bearer(a))
    assert other.status_code == 403 and other.json() == {"error": "Access denied"}
    assert (await client.get(f"/auth/userinfo/{alice}")).status_code == 401
    _, admin = await make_admin(client, app, idp)
    assert (await client.get(f"/auth/userinfo/{bob}", headers=bearer(admin))).json()["email"] == bob
    assert (await client.get(f"/auth/userinfo/{unique_email()}", headers=bearer(admin))).status_code == 404
    assert (await client.get("/auth/userinfo/not-an-email", headers=bearer(admin))).status_code == 400


async def test_config_allow_list_blocks_mass_assignment(client: httpx.AsyncClient, app: FastAPI,
                                                        idp: IdentityProvider) -> None:
    email = unique_email()
    signed = await sign_in(client, idp, email)
    token = signed.headers["x-ds-access-token"]
    user_id = signed.json()["user"]["user_id"]
    for attack in ({"role": "Admin"}, {"plan": {"name": "Premium"}}, {"email": "x@y.z"},
                   {"language": "en", "role": "Admin"}, {"dictation_config": {"playback_speed": 1, "quota": 1}}):
        r = await client.post("/user/config", json=attack, headers=bearer(token))
        assert r.status_code == 400, attack
    assert (await client.post("/user/config", json={"language": "klingon"}, headers=bearer(token))).status_code == 400
    assert (await client.post("/user/config", json={"dictation_config": {"playback_speed": 99}},
                              headers=bearer(token))).status_code == 400
    assert (await client.post("/user/config", json=[1], headers=bearer(token))).status_code == 400

    r = await client.post("/user/config", json={"dictation_config": {"playback_speed": 1.5, "auto_repeat": 2,
                                                                     "shortcuts": {"prev": "ShiftLeft"}}},
                          headers=bearer(token))
    assert r.status_code == 200 and r.json()["message"] == "User configuration updated successfully"
    config = r.json()["config"]
    assert config["role"] == "User" and config["plan"]["name"] == "Free"
    assert config["dictation_config"] == {"playback_speed": 1.5, "auto_repeat": 2,
                                          "shortcuts": {"repeat": "Tab", "next": "Enter", "prev": "ShiftLeft"}}
    lang = await client.post("/user/config", json={"language": "ja"}, headers=bearer(token))
    assert lang.json()["config"]["language"] == "ja"
    got = await client.get("/user/config", headers=bearer(token))
    assert got.json()["config"]["language"] == "ja" and got.json()["config"]["dictation_config"]["auto_repeat"] == 2
    doc = await app.state.stores.db.users.find_one({"_id": user_id})
    assert [e["type"] for e in doc[OUTBOX]] == ["user.registered", "user.updated"]  # language is public
    assert doc[OUTBOX][-1]["data"]["language"] == "ja" and doc[OUTBOX][-1]["sequence"] == 2


async def test_user_list_is_admin_only_paginated_and_without_secrets(client: httpx.AsyncClient, app: FastAPI,
                                                                     idp: IdentityProvider) -> None:
    learner = (await sign_in(client, idp, unique_email())).headers["x-ds-access-token"]
    await client.post("/auth/register", json={"username": "pw", "email": unique_email(), "password": "secret-pass-1"})
    assert (await client.get("/user/all", headers=bearer(learner))).status_code == 403
    assert (await client.get("/auth/users", headers=bearer(learner))).status_code == 403
    _, admin = await make_admin(client, app, idp)
    seen: list[str] = []
    proven: list[bool] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/user/all", params=params, headers=bearer(admin))).json()
        assert len(page["users"]) <= 2
        seen += [u["user_id"] for u in page["users"]]
        for user in page["users"]:
            assert set(user) == {"user_id", "email", "username", "avatar", "role", "language", "dictation_config",
                                 "email_verified", "created_at", "updated_at", "plan", "dictation_progress"}
        proven += [u["email_verified"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    total = await app.state.stores.db.users.count_documents({})
    assert len(seen) == len(set(seen)) == total and seen == sorted(seen)
    assert False in proven and True in proven  # admins see who registered an address nobody proved
    assert len((await client.get("/auth/users", headers=bearer(admin))).json()["users"]) == total
    assert (await client.get("/user/all", params={"limit": 0}, headers=bearer(admin))).status_code == 400
    assert await app.state.stores.db.audit.count_documents({"action": "users.list"}) >= 2


async def test_role_updates_are_admin_only_audited_and_demotion_ends_sessions(
        client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider) -> None:
    target = unique_email("target")
    target_token = (await sign_in(client, idp, target)).headers["x-ds-access-token"]
    refused = await client.put("/auth/user/role", json={"emails": [target], "role": "Admin"},
                               headers=bearer(target_token))
    assert refused.status_code == 403
    _, admin = await make_admin(client, app, idp)
    ghost = unique_email("ghost")
    r = await client.put("/auth/user/role", json={"emails": [target, ghost], "role": "Admin"},
                         headers=bearer(admin))
    assert r.status_code == 200
    assert r.json()["message"] == "Role update completed. 1 successful, 1 failed."
    assert r.json()["results"][1] == {"email": ghost, "success": False, "message": "User not found"}
    assert await app.state.stores.db.emails.find_one({"_id": ghost}) is None  # no ghost user (legacy W28)
    promoted = await sign_in(client, idp, target)
    assert promoted.json()["user"]["role"] == "Admin"
    admin_token = promoted.headers["x-ds-access-token"]
    assert (await client.get("/user/all", headers=bearer(admin_token))).status_code == 200

    await client.put("/auth/user/role", json={"emails": [target], "role": "User"}, headers=bearer(admin))
    assert (await client.get("/user/all", headers=bearer(admin_token))).status_code == 401
    audit = await app.state.stores.db.audit.find({"action": "user.role", "email": target}).to_list()
    assert [(a["before"], a["after"]) for a in audit] == [("User", "Admin"), ("Admin", "User")]
    assert (await client.put("/auth/user/role", json={"emails": [target], "role": "Root"},
                             headers=bearer(admin))).status_code == 400


async def test_rate_limits_answer_429_json(settings: Settings, idp: IdentityProvider) -> None:
    strict = settings.model_copy(update={"limit_password_per_ip": 3, "limit_refresh_per_session": 2,
                                         "limit_register_per_ip": 1})
    async with running_api(strict, client_ip="203.0.113.7") as (client, _):
        email = unique_email()
        attempts = [await client.post("/auth/login", json={"email": email, "password": "nope-nope"})
                    for _ in range(4)]
        assert [r.status_code for r in attempts] == [401, 401, 401, 429]
        assert set(attempts[-1].json()) == {"error"} and int(attempts[-1].headers["retry-after"]) >= 1
        # identity-token sign-ins are counted apart from password attempts
        assert (await client.post("/auth/login", headers={"X-Identity-Token": idp.supabase(email)})).status_code == 200
        first = await client.post("/auth/register", json={"username": "a", "email": unique_email(),
                                                          "password": "long-enough-1"})
        second = await client.post("/auth/register", json={"username": "b", "email": unique_email(),
                                                           "password": "long-enough-1"})
        assert (first.status_code, second.status_code) == (200, 429)
        refresh = first.headers["x-ds-refresh-token"]
        for _ in range(2):
            r = await client.post("/auth/refresh-token", headers=bearer(refresh))
            assert r.status_code == 200
            refresh = r.headers["x-ds-refresh-token"]
        assert (await client.post("/auth/refresh-token", headers=bearer(refresh))).status_code == 429


async def test_answers_that_reveal_an_account_are_limited_per_address(settings: Settings) -> None:
    """Registration and check-email tell whether an address has an account: many IPs probing one
    address are refused past the per-address limit (each caller here has an IP of its own)."""
    strict = settings.model_copy(update={"limit_register_per_address": 3, "limit_check_email_per_address": 3})
    taken, other = unique_email("taken"), unique_email("other")
    codes: dict[str, list[int]] = {"register": [], "check": []}
    for n in range(4):
        async with running_api(strict, client_ip=f"203.0.113.{n + 10}") as (client, _):
            codes["register"].append((await client.post("/auth/register", json={
                "username": "p", "email": taken, "password": "long-enough-1"})).status_code)
            codes["check"].append((await client.post("/auth/check-email", json={"email": taken})).status_code)
    assert codes == {"register": [200, 400, 400, 429], "check": [200, 200, 200, 429]}
    async with running_api(strict, client_ip="203.0.113.99") as (client, _):
        assert (await client.post("/auth/check-email", json={"email": other})).status_code == 200


async def test_password_guessing_cannot_lock_out_the_owner(settings: Settings, idp: IdentityProvider) -> None:
    """Wrong passwords are limited per account (failures only), and never block the owner's
    identity-token sign-in; the owner's right password is refused too while the account is under attack."""
    strict = settings.model_copy(update={"limit_password_failures_per_account": 10})
    owner = unique_email()
    async with running_api(strict) as (client, _):
        assert (await client.post("/auth/register", json={"username": "o", "email": owner,
                                                          "password": "the-right-one"})).status_code == 200
        assert (await client.post("/auth/login", json={"email": owner, "password": "the-right-one"})).status_code == 200
        guesses = [(await client.post("/auth/login", json={"email": owner, "password": f"guess-{i}"})).status_code
                   for i in range(11)]
        assert guesses == [401] * 10 + [429]
        assert (await client.post("/auth/login", json={"email": owner, "password": "the-right-one"})).status_code == 429
        for path in ("/auth/login", "/auth/userinfo"):
            signed = await client.post(path, headers={"X-Identity-Token": idp.supabase(owner)})
            assert signed.status_code == 200, signed.text


async def test_a_learners_page_loads_and_focus_events_never_see_429(settings: Settings, idp: IdentityProvider) -> None:
    """The front end posts /auth/userinfo on every page load and every time the tab becomes visible."""
    defaults = {name: Settings.model_fields[name].default
                for name in ("limit_identity_per_ip", "limit_identity_per_account")}
    async with running_api(settings.model_copy(update=defaults)) as (client, _):
        email = unique_email()
        codes = [(await client.post("/auth/userinfo", json={"email": email, "username": "L", "avatar": ""},
                                    headers={"X-Identity-Token": idp.supabase(email)})).status_code for _ in range(60)]
        assert codes == [200] * 60


async def test_cors_exposes_the_token_headers(client: httpx.AsyncClient, idp: IdentityProvider) -> None:
    email = unique_email()
    r = await client.post("/auth/login", headers={"Origin": "http://localhost:5173",
                                                  "X-Identity-Token": idp.supabase(email)})
    exposed = {h.strip() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"x-ds-access-token", "x-ds-refresh-token"} <= exposed
    preflight = await client.options("/auth/login", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-identity-token,content-type"})
    assert preflight.status_code == 200


async def test_unknown_routes_and_methods_are_json(client: httpx.AsyncClient) -> None:
    assert (await client.get("/auth/nope")).json() == {"error": "Not found"}
    wrong_method = await client.delete("/auth/login")
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"error"}
    not_json = await client.post("/auth/register", content=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and set(not_json.json()) == {"error"}


async def test_bootstrap_admins_need_a_proven_mailbox(settings: Settings, idp: IdentityProvider) -> None:
    proven, squatted = unique_email("boss"), unique_email("boss")
    bootstrap = settings.model_copy(update={"admin_emails": [proven.upper(), squatted]})
    async with running_api(bootstrap) as (client, app):
        app.state.ctx.users.bootstrap_needs_proof = True  # as in production (dev seeds its admin by password)
        assert (await sign_in(client, idp, proven)).json()["user"]["role"] == "Admin"
        registered = await client.post("/auth/register", json={"username": "x", "email": squatted,
                                                               "password": "i-am-the-boss-now"})
        assert registered.status_code == 200 and registered.json()["user"]["role"] == "User"
