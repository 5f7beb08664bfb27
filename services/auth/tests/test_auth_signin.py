"""Sign-in that proves identity: Supabase and Google tokens, e-mail + password, one user per person."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest
from auth_helpers import (
    GOOGLE_CLIENT,
    PNG,
    SUPABASE_ISSUER,
    IdentityProvider,
    bearer,
    make_admin,
    sign_in,
    unique_email,
)
from ds_common.auth import JwksCache, TokenVerifier
from ds_common.events.outbox import OUTBOX
from fastapi import FastAPI

pytestmark = pytest.mark.integration


async def test_supabase_login_issues_tokens_and_the_legacy_user(client: httpx.AsyncClient,
                                                                idp: IdentityProvider) -> None:
    email = unique_email()
    r = await client.post("/auth/login", json={"email": email.upper(), "username": "x", "avatar": "y"},
                          headers={"X-Identity-Token": idp.supabase(email, name="Ada Lovelace")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "Login successful"
    user = body["user"]
    # Name, e-mail and avatar come from the verified claims, not from the body.
    assert user["email"] == email and user["username"] == "Ada Lovelace"
    assert user["avatar"] == "https://a.example/p.png"
    assert user["role"] == "User" and user["language"] == "en"
    assert user["plan"] == {"name": "Free", "expireTime": None, "isRecurring": False, "status": "active"}
    assert user["dictation_config"] == {"playback_speed": 1, "auto_repeat": 0,
                                        "shortcuts": {"repeat": "Tab", "next": "Enter", "prev": "ControlLeft"}}
    assert isinstance(user["created_at"], int) and "password" not in user and "password_hash" not in user
    assert r.headers["x-ds-access-token"] and r.headers["x-ds-refresh-token"].startswith("rt1.")


async def test_access_token_is_eddsa_with_kid_and_verifies_from_the_published_jwks(
        client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider) -> None:
    email = unique_email()
    r = await sign_in(client, idp, email)
    access = r.headers["x-ds-access-token"]
    header = jwt.get_unverified_header(access)
    claims = jwt.decode(access, options={"verify_signature": False})
    assert header["alg"] == "EdDSA" and header["kid"]
    assert claims["iss"] == claims["aud"] == "dictation-studio"
    assert claims["sub"] == r.json()["user"]["user_id"] and claims["email"] == email
    assert claims["typ"] == "access" and claims["role"] == "User" and claims["sid"]
    assert claims["exp"] - claims["iat"] == 3600  # well above the front end's 10-minute refresh margin

    # Another service verifies it exactly as ds_common does: JWKS fetched over HTTP from auth.
    jwks_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://auth")
    verifier = TokenVerifier(JwksCache("http://auth/.well-known/jwks.json", http=jwks_http),
                             issuer="dictation-studio", audience="dictation-studio")
    principal = await verifier.verify(access)
    assert principal.user_id == claims["sub"] and principal.session_id == claims["sid"]
    await jwks_http.aclose()

    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    assert all("d" not in k for k in jwks["keys"])  # public parts only


async def test_google_id_token_in_the_body_on_userinfo(client: httpx.AsyncClient, idp: IdentityProvider) -> None:
    email = unique_email("google")
    r = await client.post("/auth/userinfo", json={"email": email, "avatar": "", "username": "",
                                                  "id_token": idp.google(email, name="Grace Hopper")})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "User information processed successfully"
    assert r.json()["user"]["username"] == "Grace Hopper"
    # Signing in again keeps the same user and refreshes the profile from the claims.
    again = await client.post("/auth/userinfo", json={"email": email, "avatar": "", "username": ""},
                              headers={"X-Identity-Token": idp.google(email, name="Rear Admiral Hopper")})
    assert again.json()["user"]["user_id"] == r.json()["user"]["user_id"]
    assert again.json()["user"]["username"] == "Rear Admiral Hopper"


@pytest.mark.parametrize("case", ["missing", "forged", "expired", "wrong_audience", "alg_none", "unverified",
                                  "unknown_issuer", "google_wrong_client", "garbage"])
async def test_bad_identity_tokens_are_refused(client: httpx.AsyncClient, idp: IdentityProvider, case: str) -> None:
    email = unique_email()
    now = int(time.time())
    tokens = {
        "forged": idp.supabase(email, secret="not-the-supabase-secret-" * 2),
        "expired": idp.supabase(email, iat=now - 7200, exp=now - 3600),
        "wrong_audience": idp.supabase(email, aud="someone-else"),
        "alg_none": jwt.encode({"iss": SUPABASE_ISSUER, "aud": "authenticated", "sub": "x", "email": email,
                                "iat": now, "exp": now + 600,
                                "user_metadata": {"email_verified": True}}, None, algorithm="none"),
        "unverified": idp.supabase(email, verified=False),
        "unknown_issuer": idp.supabase(email, iss="https://evil.example/auth/v1"),
        "google_wrong_client": idp.google(email, aud="another-" + GOOGLE_CLIENT),
        "garbage": "not.a.jwt",
    }
    headers = {"X-Identity-Token": tokens[case]} if case in tokens else {}
    for path in ("/auth/login", "/auth/userinfo"):
        r = await client.post(path, json={"email": email, "username": "u", "avatar": "a"}, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert set(r.json()) == {"error"} and "x-ds-access-token" not in r.headers
    assert (await client.post("/auth/check-email", json={"email": email})).json()["exists"] is False


async def test_body_email_that_disagrees_with_the_token_is_rejected(client: httpx.AsyncClient,
                                                                    idp: IdentityProvider) -> None:
    victim, attacker = unique_email("victim"), unique_email("attacker")
    r = await client.post("/auth/login", json={"email": victim, "username": "u", "avatar": "a"},
                          headers={"X-Identity-Token": idp.supabase(attacker)})
    assert r.status_code == 403 and r.json() == {"error": "Email does not match the identity token"}


async def test_concurrent_first_logins_create_one_user_and_one_registered_event(
        client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider) -> None:
    email = unique_email("racer")
    responses = await asyncio.gather(*(client.post("/auth/login", headers={"X-Identity-Token": idp.supabase(
        f"  {email.upper()} ")}) for _ in range(8)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    ids = {r.json()["user"]["user_id"] for r in responses}
    assert len(ids) == 1
    db = app.state.stores.db
    assert await db.users.count_documents({"email": email}) == 1
    doc = await db.users.find_one({"_id": ids.pop()})
    assert [e["type"] for e in doc[OUTBOX]] == ["user.registered"]  # the relay has not run here


async def test_register_and_password_login(client: httpx.AsyncClient) -> None:
    email = unique_email("pw")
    r = await client.post("/auth/register", json={"username": "Pat", "email": f" {email.upper()}",
                                                  "password": "correct horse battery", "avatar": ""})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email"] == email and r.headers["x-ds-refresh-token"]
    dup = await client.post("/auth/register", json={"username": "P2", "email": email, "password": "another-pass1"})
    assert dup.status_code == 400 and dup.json() == {"error": "User with this email already exists"}

    ok = await client.post("/auth/login", json={"email": email, "password": "correct horse battery"})
    assert ok.status_code == 200 and ok.json()["user"]["username"] == "Pat"
    wrong = await client.post("/auth/login", json={"email": email, "password": "wrong horse battery"})
    nobody = await client.post("/auth/login", json={"email": unique_email("ghost"), "password": "whatever-123"})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json() == {"error": "Invalid email or password"}  # generic
    # Body without any proof at all: refused (legacy login trusted the e-mail).
    bare = await client.post("/auth/login", json={"email": email, "username": "Pat", "avatar": "a"})
    assert bare.status_code == 401


async def test_register_rejects_weak_or_malformed_input(client: httpx.AsyncClient) -> None:
    short = await client.post("/auth/register", json={"username": "P", "email": unique_email(), "password": "short"})
    bad_email = await client.post("/auth/register", json={"username": "P", "email": "nope", "password": "long-enough"})
    extra = await client.post("/auth/register", json={"username": "P", "email": unique_email(),
                                                      "password": "long-enough", "role": "Admin"})
    assert short.status_code == bad_email.status_code == extra.status_code == 400


async def test_provider_sign_in_drops_a_password_nobody_proved(client: httpx.AsyncClient, app: FastAPI,
                                                               idp: IdentityProvider) -> None:
    """Pre-account-takeover: someone registers the victim's address with a password first, and
    writes to the team in the owner's name."""
    email = unique_email("owner")
    squatter = await client.post("/auth/register", json={"username": "squat", "email": email,
                                                         "password": "squatters-pass"})
    assert squatter.status_code == 200 and squatter.json()["user"]["email_verified"] is False
    squat_refresh, squat_access = squatter.headers["x-ds-refresh-token"], squatter.headers["x-ds-access-token"]
    wrote = await client.post("/user/feedback", files=[("images", ("a.png", PNG, "image/png"))],
                              data={"message": "Refund me to this other card"}, headers=bearer(squat_access))
    assert wrote.status_code == 200
    _, admin = await make_admin(client, app, idp)
    senders = (await client.get("/user/feedback/admin/list", headers=bearer(admin))).json()
    assert {"email": email, "emailVerified": False} in [{k: s[k] for k in ("email", "emailVerified")} for s in senders]
    marked = (await client.get("/user/feedback", params={"userEmail": email}, headers=bearer(admin))).json()
    assert [m["sender"] for m in marked] == ["squat (e-mail not verified)"]

    owner = await sign_in(client, idp, email, name="Real Owner")
    assert owner.json()["user"]["user_id"] == squatter.json()["user"]["user_id"]
    assert owner.json()["user"]["email_verified"] is True
    # What the squatter wrote is no longer the owner's (kept apart for the admins' records).
    assert (await client.get("/user/feedback", headers=bearer(owner.headers["x-ds-access-token"]))).json() == []
    assert email not in [s["email"] for s in (await client.get("/user/feedback/admin/list",
                                                               headers=bearer(admin))).json()]
    db = app.state.stores.db
    user_id = owner.json()["user"]["user_id"]
    detached = await db.feedback_detached.find_one({"user_id": user_id})
    assert [m["message"] for m in detached["messages"]] == ["Refund me to this other card"]
    assert await db.attachments.count_documents({"owner": user_id}) == 0
    login = await client.post("/auth/login", json={"email": email, "password": "squatters-pass"})
    assert login.status_code == 401
    refused = await client.post("/auth/refresh-token", headers=bearer(squat_refresh))
    assert refused.status_code == 401  # the squatter's session was ended too


async def test_check_email(client: httpx.AsyncClient, idp: IdentityProvider) -> None:
    email = unique_email()
    await sign_in(client, idp, email)
    r = await client.post("/auth/check-email", json={"email": email.upper()})
    assert r.json() == {"exists": True, "message": "Email already exists"}
    assert (await client.post("/auth/check-email", json={})).status_code == 400
