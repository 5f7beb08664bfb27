"""Refresh tokens: opaque, stored only as hashes, rotated on every use.

A token is `rt1.<session id>.<secret>`. The first secret of a session is random; each successor is
`HMAC(refresh key, previous secret)`. Deriving the successor (instead of drawing a new random one)
is what lets several refreshes sent at once with the same token all receive the SAME new token
inside the grace interval, while the server still stores nothing but SHA-256 hashes: the secret
is 256 random bits, so a plain hash is enough (no password-style slow hash).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Literal

PREFIX = "rt1"
_SID = re.compile(r"^[0-9a-f]{32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")

RevokeReason = Literal["logout", "refresh_reuse", "admin"]


@dataclass(frozen=True, slots=True)
class RefreshToken:
    session_id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}.{self.session_id}.{self.secret}"

    @property
    def hash(self) -> str:
        return hash_secret(self.secret)

    def successor(self, key: bytes) -> RefreshToken:
        digest = hmac.new(key, self.secret.encode(), hashlib.sha256).digest()
        return RefreshToken(self.session_id, _b64(digest))


@dataclass(frozen=True)
class Refreshed:
    """The outcome of one refresh (adapters/sessions.py runs the rotation)."""

    outcome: str  # current | rotated | grace | reuse | revoked | expired | invalid | missing
    user_id: str | None = None
    token: RefreshToken | None = None  # the token the client must use next
    cached_user: bytes | None = None  # the user cache entry, when Redis had it


def new_session_id() -> str:
    return os.urandom(16).hex()


def first_token(session_id: str) -> RefreshToken:
    return RefreshToken(session_id, _b64(os.urandom(32)))


def parse(raw: str) -> RefreshToken | None:
    parts = raw.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not _SID.match(parts[1]) or not _SECRET.match(parts[2]):
        return None
    return RefreshToken(parts[1], parts[2])


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# What a refused refresh answers (401), by the outcome of the rotation (adapters/sessions.py).
_REFUSALS = {
    "reuse": "Refresh token reuse detected; the session has been revoked",
    "revoked": "Session has been revoked",
    "expired": "Refresh token has expired",
}


def refusal(outcome: str) -> str:
    return _REFUSALS.get(outcome, "Invalid refresh token")
