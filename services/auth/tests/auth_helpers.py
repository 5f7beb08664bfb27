"""Test helpers: a loopback identity provider (Supabase-style HS256, Google-style RS256 + JWKS),
an auth app driven in-process, and a clock the tests can move forward (ds_common's test kit)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from ds_auth.main import api_app
from ds_auth.settings import Settings
from ds_common.testing.infra import Endpoints
from ds_common.testing.kit import MovableClock, in_process
from ds_common.testing.loopback import LoopbackServer, serving
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

SUPABASE_ISSUER = "http://127.0.0.1:54321/auth/v1"
GOOGLE_CLIENT = "test-client.apps.googleusercontent.com"


class IdentityProvider:
    """Signs Supabase-style (HS256 secret) and Google-style (RS256, JWKS on loopback) tokens."""

    def __init__(self) -> None:
        self.hs_secret = uuid.uuid4().hex + uuid.uuid4().hex
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "google-test-" + uuid.uuid4().hex[:6]
        self._server: LoopbackServer | None = None
        self.url = ""

    def supabase(self, email: str, *, name: str = "Test Learner", avatar: str = "https://a.example/p.png",
                 verified: bool = True, ttl_s: int = 3600, secret: str | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": SUPABASE_ISSUER, "aud": "authenticated", "sub": str(uuid.uuid4()), "email": email,
                  "role": "authenticated", "iat": now, "exp": now + ttl_s,
                  "app_metadata": {"provider": "email"},
                  "user_metadata": {"email": email, "email_verified": verified, "full_name": name,
                                    "avatar_url": avatar}}
        claims.update(overrides)
        return jwt.encode(claims, secret or self.hs_secret, algorithm="HS256")

    def google(self, email: str, *, name: str = "Google Learner", verified: bool = True, ttl_s: int = 3600,
               **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": GOOGLE_CLIENT, "sub": str(uuid.uuid4().int),
                  "email": email, "email_verified": verified, "name": name,
                  "picture": "https://lh3.example/photo.jpg", "iat": now, "exp": now + ttl_s}
        claims.update(overrides)
        return jwt.encode(claims, self.rsa, algorithm="RS256", headers={"kid": self.kid})

    def serve(self) -> str:
        """Publish the Google-style public key as a JWKS on loopback; its URL."""
        jwk = {**json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())), "kid": self.kid, "alg": "RS256", "use": "sig"}
        self._server = LoopbackServer(serving({"keys": [jwk]}), "/certs")
        self.url = self._server.url
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def letters_only(prefix: str) -> str:
    return prefix + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:10]


def make_settings(endpoints: Endpoints, idp: IdentityProvider, db_name: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "service_name": letters_only("authtest"), "environment": "test", "mongo_url": endpoints.mongo_url,
        "mongo_db": db_name, "redis_url": endpoints.redis_url, "kafka_bootstrap": endpoints.kafka_bootstrap,
        "supabase_issuer": SUPABASE_ISSUER, "supabase_jwt_secret": SecretStr(idp.hs_secret),
        "google_client_ids": [GOOGLE_CLIENT], "google_jwks_url": idp.url,
        "limit_password_per_ip": 100_000, "limit_password_failures_per_account": 100_000,
        "limit_identity_per_ip": 100_000, "limit_identity_per_account": 100_000, "limit_register_per_ip": 100_000,
        "limit_refresh_per_ip": 100_000, "limit_refresh_per_session": 100_000,
        "limit_check_email_per_ip": 100_000, "limit_feedback_per_user": 100_000,
        "limit_register_per_address": 100_000, "limit_check_email_per_address": 100_000,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_api(settings: Settings, clock: MovableClock | None = None,
                      client_ip: str = "127.0.0.1") -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = api_app(settings, clock=clock)
    async with in_process(app, base_url="http://auth", client_ip=client_ip) as client:
        yield client, app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, idp: IdentityProvider, email: str, **claims: Any) -> httpx.Response:
    """The legacy front end's call, plus the one change: the Supabase token in X-Identity-Token."""
    r = await client.post("/auth/login", json={"email": email, "username": "ignored", "avatar": "ignored"},
                          headers={"X-Identity-Token": idp.supabase(email, **claims)})
    assert r.status_code == 200, r.text
    return r


async def make_admin(client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider,
                     name: str = "The Admin") -> tuple[str, str]:
    """An admin's (email, access token): promoted in the store, then signed in again."""
    email = unique_email("admin")
    user_id = (await sign_in(client, idp, email, name=name)).json()["user"]["user_id"]
    await app.state.ctx.users.update(user_id, {"role": "Admin"})
    return email, (await sign_in(client, idp, email, name=name)).headers["x-ds-access-token"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def unique_email(prefix: str = "learner") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
