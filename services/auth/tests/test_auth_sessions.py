"""Refresh-token rotation with a grace interval, reuse detection, logout, key rotation, bad access tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest
from auth_helpers import IdentityProvider, bearer, running_api, sign_in, unique_email
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ds_auth.adapters.keys import private_pem
from ds_auth.adapters.sessions import purge_expired_sessions
from ds_auth.settings import Settings
from ds_common.events.outbox import OUTBOX
from ds_common.testing.kit import MovableClock, eventually
from fastapi import FastAPI
from pydantic import SecretStr

pytestmark = pytest.mark.integration


async def userinfo(client: httpx.AsyncClient, access: str, email: str) -> httpx.Response:
    return await client.get(f"/auth/userinfo/{email}", headers=bearer(access))


async def test_refresh_returns_the_bare_user_and_a_successor(client: httpx.AsyncClient,
                                                              idp: IdentityProvider) -> None:
    email = unique_email()
    first = await sign_in(client, idp, email)
    r1 = first.headers["x-ds-refresh-token"]
    r = await client.post("/auth/refresh-token", headers=bearer(r1))
    assert r.status_code == 200, r.text
    assert r.json() == first.json()["user"]  # legacy: the bare User object, the same as sign-in's
    r2 = r.headers["x-ds-refresh-token"]
    assert r2 != r1 and r2.split(".")[1] == r1.split(".")[1]  # same session, new token
    assert (await userinfo(client, r.headers["x-ds-access-token"], email)).status_code == 200
    again = await client.post("/auth/refresh-token", headers=bearer(r2))  # adopting the successor
    assert again.status_code == 200 and again.headers["x-ds-refresh-token"] not in (r1, r2)


async def test_a_client_that_keeps_its_first_refresh_token_stays_signed_in(
        client: httpx.AsyncClient, app: FastAPI, clock: MovableClock, idp: IdentityProvider) -> None:
    """The legacy front end stores only the access token from a refresh: every later refresh, an
    access-token lifetime apart, presents the refresh token of the sign-in again."""
    email = unique_email()
    signed = await sign_in(client, idp, email)
    token = signed.headers["x-ds-refresh-token"]
    lifetime = timedelta(seconds=app.state.settings.access_token_ttl_s)
    try:
        for hour in range(6):
            clock.advance(lifetime)
            burst = await asyncio.gather(*(client.post("/auth/refresh-token", headers=bearer(token))
                                           for _ in range(3)))
            assert [r.status_code for r in burst] == [200] * 3, (hour, [r.text for r in burst])
            assert all(r.json()["email"] == email and "x-ds-access-token" in r.headers for r in burst)
        assert (await userinfo(client, burst[0].headers["x-ds-access-token"], email)).status_code == 200
    finally:
        clock.advance(-6 * lifetime)


async def test_five_concurrent_refreshes_agree_and_a_replayed_old_token_revokes_an_adopter(
        client: httpx.AsyncClient, app: FastAPI, clock: MovableClock, idp: IdentityProvider) -> None:
    email = unique_email()
    signed = await sign_in(client, idp, email)
    token = signed.headers["x-ds-refresh-token"]
    burst = await asyncio.gather(*(client.post("/auth/refresh-token", headers=bearer(token)) for _ in range(5)))
    assert [r.status_code for r in burst] == [200] * 5, [r.text for r in burst]
    successors = {r.headers["x-ds-refresh-token"] for r in burst}
    assert len(successors) == 1  # consistent: whichever reply the browser keeps, it holds a valid token
    sessions = {jwt.decode(r.headers["x-ds-access-token"], options={"verify_signature": False})["sid"] for r in burst}
    assert sessions == {token.split(".")[1]}
    successor = successors.pop()
    # The client adopts its successor; an in-flight refresh with the old token inside the grace is fine.
    adopted = await client.post("/auth/refresh-token", headers=bearer(successor))
    assert adopted.status_code == 200, adopted.text
    late = await client.post("/auth/refresh-token", headers=bearer(token))
    assert late.status_code == 200 and late.headers["x-ds-refresh-token"] == successor
    access = adopted.headers["x-ds-access-token"]
    assert (await userinfo(client, access, email)).status_code == 200  # session alive

    with clock.moved(timedelta(seconds=app.state.settings.refresh_grace_s + 1)):
        replay = await client.post("/auth/refresh-token", headers=bearer(token))  # someone else's old copy
        assert replay.status_code == 401 and "reuse" in replay.json()["error"]
        # The whole session is gone: its newest token and its access tokens are refused.
        assert (await client.post("/auth/refresh-token",
                                  headers=bearer(adopted.headers["x-ds-refresh-token"]))).status_code == 401
        assert (await userinfo(client, access, email)).status_code == 401
    doc = await app.state.stores.db.sessions.find_one({"_id": token.split(".")[1]})
    assert doc["revoked_reason"] == "refresh_reuse"
    assert [e["data"]["reason"] for e in doc[OUTBOX] if e["type"] == "session.revoked"] == ["refresh_reuse"]


async def test_a_session_ends_at_its_absolute_lifetime(client: httpx.AsyncClient, app: FastAPI, clock: MovableClock,
                                                      idp: IdentityProvider) -> None:
    signed = await sign_in(client, idp, unique_email())
    token = signed.headers["x-ds-refresh-token"]
    step = timedelta(seconds=app.state.settings.refresh_token_ttl_s // 2)
    moved = timedelta()
    try:
        while moved + step < timedelta(seconds=app.state.settings.session_max_age_s):
            clock.advance(step)
            moved += step
            assert (await client.post("/auth/refresh-token", headers=bearer(token))).status_code == 200
        clock.advance(step + timedelta(minutes=1))
        moved += step + timedelta(minutes=1)
        r = await client.post("/auth/refresh-token", headers=bearer(token))
        assert r.status_code == 401 and r.json() == {"error": "Refresh token has expired"}
    finally:
        clock.advance(-moved)


async def test_invalid_refresh_tokens_are_401_and_revoke_nothing(client: httpx.AsyncClient,
                                                                 idp: IdentityProvider) -> None:
    email = unique_email()
    signed = await sign_in(client, idp, email)
    refresh, access = signed.headers["x-ds-refresh-token"], signed.headers["x-ds-access-token"]
    sid = refresh.split(".")[1]
    for bad in (access, f"rt1.{sid}.{'A' * 43}", f"rt1.{uuid.uuid4().hex}.{'B' * 43}", "garbage"):
        r = await client.post("/auth/refresh-token", headers=bearer(bad))
        assert r.status_code == 401 and set(r.json()) == {"error"}
    assert (await client.post("/auth/refresh-token")).status_code == 401
    assert (await client.post("/auth/refresh-token", headers=bearer(refresh))).status_code == 200


async def test_logout_revokes_the_session_at_once_and_queues_session_revoked(
        client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider) -> None:
    email = unique_email()
    signed = await sign_in(client, idp, email)
    access, refresh = signed.headers["x-ds-access-token"], signed.headers["x-ds-refresh-token"]
    other = await sign_in(client, idp, email)  # a second device stays signed in
    out = await client.post("/auth/logout", headers=bearer(access))
    assert out.status_code == 200 and out.json() == {"message": "Successfully logged out"}
    assert (await userinfo(client, access, email)).status_code == 401
    assert (await client.post("/auth/refresh-token", headers=bearer(refresh))).status_code == 401
    assert (await userinfo(client, other.headers["x-ds-access-token"], email)).status_code == 200
    doc = await app.state.stores.db.sessions.find_one({"_id": refresh.split(".")[1]})
    event = next(e for e in doc[OUTBOX] if e["type"] == "session.revoked")
    assert event["data"]["session_id"] == doc["_id"] and event["data"]["reason"] == "logout"
    assert (await client.post("/auth/logout")).status_code == 401


async def test_a_session_lost_by_redis_comes_back_from_its_mongo_checkpoint(
        client: httpx.AsyncClient, app: FastAPI, clock: MovableClock, idp: IdentityProvider) -> None:
    signed = await sign_in(client, idp, unique_email())
    ctx = app.state.ctx
    await ctx.sessions.flush()  # other tests' sessions
    sid = signed.headers["x-ds-refresh-token"].split(".")[1]
    with clock.moved(timedelta(seconds=ctx.settings.checkpoint_every_s + 1)):  # the UI refreshes ~hourly
        r = await client.post("/auth/refresh-token", headers=bearer(signed.headers["x-ds-refresh-token"]))
        current = r.headers["x-ds-refresh-token"]
        # An immediate second rotation is not checkpointed (one per session per interval).
        quick = await client.post("/auth/refresh-token", headers=bearer(current))
        assert quick.status_code == 200
        assert await ctx.sessions.flush() == 1  # what the checkpoint loop does every second
        assert (await app.state.stores.db.sessions.find_one({"_id": sid}))["refresh"]["gen"] == 1

        await app.state.stores.redis.delete(ctx.sessions._key(sid))  # Redis lost the session
        restored = await client.post("/auth/refresh-token", headers=bearer(current))
        assert restored.status_code == 200, restored.text
        # Newer than the checkpoint: refused (the learner signs in again), nothing revoked or forked.
        await app.state.stores.redis.delete(ctx.sessions._key(sid))
        lost = await client.post("/auth/refresh-token", headers=bearer(restored.headers["x-ds-refresh-token"]))
        assert lost.status_code == 401


async def test_refresh_token_expires(client: httpx.AsyncClient, app: FastAPI, clock: MovableClock,
                                     idp: IdentityProvider) -> None:
    signed = await sign_in(client, idp, unique_email())
    with clock.moved(timedelta(seconds=app.state.settings.refresh_token_ttl_s + 5)):
        r = await client.post("/auth/refresh-token", headers=bearer(signed.headers["x-ds-refresh-token"]))
        assert r.status_code == 401 and r.json() == {"error": "Refresh token has expired"}


@pytest.mark.parametrize("case", ["expired", "wrong_audience", "alg_none", "forged", "wrong_type", "hs256"])
async def test_bad_access_tokens_are_401(client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider,
                                         case: str) -> None:
    email = unique_email()
    signed = await sign_in(client, idp, email)
    good = jwt.decode(signed.headers["x-ds-access-token"], options={"verify_signature": False})
    keyring = app.state.ctx.keyring
    now = int(time.time())
    claims = {**good, "jti": uuid.uuid4().hex}
    kid = {"kid": keyring.signing.kid}
    token = {
        "expired": lambda: jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, keyring.signing.private,
                                      algorithm="EdDSA", headers=kid),
        "wrong_audience": lambda: jwt.encode({**claims, "aud": "other"}, keyring.signing.private,
                                             algorithm="EdDSA", headers=kid),
        "alg_none": lambda: jwt.encode(claims, None, algorithm="none", headers=kid),
        "forged": lambda: jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=kid),
        "wrong_type": lambda: jwt.encode({**claims, "typ": "refresh"}, keyring.signing.private,
                                         algorithm="EdDSA", headers=kid),
        "hs256": lambda: jwt.encode(claims, "secret-guess-that-is-long-enough-000", algorithm="HS256", headers=kid),
    }[case]()
    r = await userinfo(client, token, email)
    assert r.status_code == 401 and set(r.json()) == {"error"}


async def test_two_keys_during_rotation(settings: Settings, idp: IdentityProvider) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    email = unique_email()
    before = settings.model_copy(update={"signing_keys": SecretStr(private_pem(old))})
    async with running_api(before) as (client, _):
        old_access = (await sign_in(client, idp, email)).headers["x-ds-access-token"]
    during = settings.model_copy(update={"signing_keys": SecretStr(private_pem(new) + private_pem(old))})
    async with running_api(during) as (client, _):
        kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
        new_access = (await sign_in(client, idp, email)).headers["x-ds-access-token"]
        assert len(kids) == 2 and jwt.get_unverified_header(new_access)["kid"] == kids[0]
        assert jwt.get_unverified_header(old_access)["kid"] == kids[1]
        for access in (old_access, new_access):  # both verify while both keys are published
            assert (await userinfo(client, access, email)).status_code == 200


async def test_idle_and_expired_sessions_are_purged(client: httpx.AsyncClient, app: FastAPI,
                                                    idp: IdentityProvider) -> None:
    signed = await sign_in(client, idp, unique_email())
    sid = signed.headers["x-ds-refresh-token"].split(".")[1]
    db = app.state.stores.db
    later = app.state.ctx.clock.now() + timedelta(seconds=app.state.settings.refresh_token_ttl_s + 60)
    assert await purge_expired_sessions(db, later) >= 1
    assert await db.sessions.find_one({"_id": sid}) is None
    fresh = await sign_in(client, idp, unique_email())
    await purge_expired_sessions(db, app.state.ctx.clock.now())
    assert await db.sessions.find_one({"_id": fresh.headers["x-ds-refresh-token"].split(".")[1]}) is not None


async def test_auth_checks_tokens_against_its_followed_revocation_table(
        client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider) -> None:
    """Auth verifies with its own keys, but through the revocation table its API process follows:
    no Redis round trip per request, and its own logouts apply at once."""
    await eventually(lambda: app.state.verifier.revocations.current, within_s=3,
                     what="the revocation table became current")
    email = unique_email()
    access = (await sign_in(client, idp, email)).headers["x-ds-access-token"]
    assert (await userinfo(client, access, email)).status_code == 200
    assert (await client.post("/auth/logout", headers=bearer(access))).status_code == 200
    assert (await userinfo(client, access, email)).status_code == 401
