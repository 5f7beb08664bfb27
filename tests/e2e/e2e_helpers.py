"""Helpers for the end-to-end tests: signing in through the gateway as the front end does,
Stripe's signed webhooks, polling."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt


def poll(check: Callable[[], Any], *, within_s: float, what: str) -> Any:
    """Call `check` until it returns a truthy value, at most `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what}")
        time.sleep(0.05)


def supabase_token(system: Any, email: str, name: str) -> str:
    now = int(time.time())
    claims = {"iss": system.supabase_issuer, "aud": "authenticated", "sub": str(uuid.uuid4()), "email": email,
              "role": "authenticated", "iat": now, "exp": now + 3600,
              "user_metadata": {"email_verified": True, "full_name": name, "avatar_url": "https://a.test/x.png"}}
    return jwt.encode(claims, system.supabase_secret, algorithm="HS256")


def sign_in(client: httpx.Client, system: Any, email: str, name: str) -> dict[str, Any]:
    r = client.post("/auth/login", json={"email": email, "username": name, "avatar": "https://a.test/x.png"},
                    headers={"X-Identity-Token": supabase_token(system, email, name)})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Login successful"
    return {"user": r.json()["user"], "access": r.headers["x-ds-access-token"],
            "refresh": r.headers["x-ds-refresh-token"]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stripe_webhook(client: httpx.Client, secret: str, event_type: str, obj: dict[str, Any]) -> httpx.Response:
    body = json.dumps({"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "api_version": "2025-09-30.clover",
                       "created": int(time.time()), "livemode": False, "type": event_type, "data": {"object": obj}})
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return client.post("/payment/webhook", content=body.encode(),
                       headers={"Stripe-Signature": f"t={timestamp},v1={signature}",
                                "Content-Type": "application/json"})
