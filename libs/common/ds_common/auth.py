"""Access-token verification for every service: JWTs signed by auth, keys from its JWKS.

The JWKS is fetched asynchronously and cached; a token signed with an unknown `kid` triggers a
refetch (key rotation), at most once per cooldown. Only asymmetric algorithms are accepted, the
algorithm comes from our allow-list and never from the token. A revoked session (logout) is
rejected through the `SessionRevocations` hook, fed by `session.revoked` events and followed
locally by each API process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
import jwt
from fastapi import Depends, Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ds_common.errors import Forbidden, ServiceUnavailable, Unauthorized
from ds_common.redis import KeySpace, for_blocking
from ds_common.waiting import unless_stopped

Role = Literal["User", "Admin"]
ACCESS_ALGORITHMS = ("EdDSA", "RS256")
VERIFIED_CACHE_SIZE = 10_000
logger = logging.getLogger("ds.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: Role
    session_id: str
    email: str | None = None
    token: str = field(default="", repr=False)  # the access token it was read from (to call on their behalf)

    @property
    def is_admin(self) -> bool:
        return self.role == "Admin"


class JwksCache:
    def __init__(self, url: str, *, lifespan_s: float = 300, cooldown_s: float = 5,
                 http: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.lifespan_s = lifespan_s
        self.cooldown_s = cooldown_s
        self._http = http or httpx.AsyncClient(timeout=3)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str) -> jwt.PyJWK:
        expired = time.monotonic() - self._fetched_at > self.lifespan_s
        if kid not in self._keys or expired:
            await self._refresh(force=expired)
        try:
            return self._keys[kid]
        except KeyError:
            raise Unauthorized("Invalid token: unknown signing key") from None

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self.cooldown_s:
                return
            try:
                response = await self._http.get(self.url)
                response.raise_for_status()
                keyset = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, jwt.PyJWKSetError, ValueError) as exc:
                if self._keys:  # keep serving with the keys we have
                    return
                raise Unauthorized("Token keys unavailable") from exc
            self._keys = {k.key_id: k for k in keyset.keys if k.key_id}
            self._fetched_at = time.monotonic()

    async def aclose(self) -> None:
        await self._http.aclose()


class SessionRevocations:
    """Revoked session ids in Redis, each kept until the last access token of it has expired.

    A revocation is a key with a TTL (the authority) plus an entry in a stream. Each API process
    follows the stream into a local table (`follow`), so the check on every request costs no
    Redis round trip. While the process cannot show that its table is current (its last read of
    the stream is older than `fresh_s`, or it never read it), it asks Redis per request instead,
    so a logout is never missed: it fails closed with a 503 when Redis is down.
    """

    STREAM_RETENTION_MS = 24 * 3600 * 1000  # > any access token's lifetime (auth: 1 h)
    READ_BATCH = 1000

    def __init__(self, redis: Redis, keys: KeySpace, *, fresh_s: float = 1.5, block_ms: int = 5_000) -> None:
        self.redis = redis
        self.keys = keys
        self.stream = keys("revoked-sessions")
        self.fresh_s = fresh_s
        self.block_ms = block_ms
        self._revoked: dict[str, float] = {}  # session id -> until (epoch seconds)
        self._current_at = float("-inf")  # monotonic time of the last complete read of the stream
        self._waiting_since: float | None = None  # a blocking read in flight after a complete one
        self._pruned_at = 0.0

    async def revoke(self, session_id: str, until: datetime) -> None:
        ttl = max(int(until.timestamp() - time.time()) + 60, 60)
        oldest = f"{int(time.time() * 1000) - self.STREAM_RETENTION_MS}-0"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys("revoked-session", session_id), "1", ex=ttl)
            pipe.xadd(self.stream, {"sid": session_id, "until": str(time.time() + ttl)},
                      minid=oldest, approximate=True)
            await pipe.execute()
        self._revoked[session_id] = time.time() + ttl  # this process knows at once, the others within a read

    @property
    def current(self) -> bool:
        """Whether the local table can answer: its last complete read is recent enough, or a
        blocking read is waiting for the next entry (Redis answers it the moment one is added) and
        has not overrun its block time (a dead connection would)."""
        now = time.monotonic()
        waiting = self._waiting_since is not None and now - self._waiting_since < self.block_ms / 1000 + self.fresh_s
        return waiting or now - self._current_at < self.fresh_s

    async def is_revoked(self, session_id: str) -> bool:
        if self.current:
            until = self._revoked.get(session_id)
            return until is not None and until > time.time()
        try:
            return bool(await self.redis.exists(self.keys("revoked-session", session_id)))
        except RedisError:  # fail closed, but as a clear 503 rather than a 500
            raise ServiceUnavailable("Session check unavailable, retry shortly") from None

    async def follow(self, stop: asyncio.Event) -> None:
        """Keep the local table current until `stop`; a background worker of each API process."""
        blocking = for_blocking(self.redis)  # blocks for seconds: longer than a command may
        try:
            await self._follow(stop, blocking)
        finally:
            self._waiting_since = None
            await blocking.aclose()

    async def _follow(self, stop: asyncio.Event, blocking: Redis) -> None:
        last_id: bytes | str = "0-0"
        caught_up = False
        while not stop.is_set():
            try:
                started = time.monotonic()
                self._waiting_since = started if caught_up else None
                replies: Any = await unless_stopped(stop, blocking.xread(
                    {self.stream: last_id}, count=self.READ_BATCH, block=self.block_ms))
                entries: list[tuple[bytes, dict[bytes, bytes]]] = [e for _, batch in replies or () for e in batch]
                for entry_id, fields in entries:
                    self._revoked[fields[b"sid"].decode()] = float(fields[b"until"])
                    last_id = entry_id
                caught_up = len(entries) < self.READ_BATCH
                if caught_up:  # everything added before `started` is here
                    self._current_at = started
                self._forget_expired()
            except (RedisError, KeyError, ValueError):
                self._waiting_since, caught_up = None, False
                logger.warning("revocation stream unavailable; checking Redis per request", exc_info=True)
                await asyncio.sleep(0.5)

    def _forget_expired(self) -> None:
        now = time.time()
        if now - self._pruned_at > 60:
            self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
            self._pruned_at = now


class TokenVerifier:
    def __init__(self, jwks: JwksCache, *, issuer: str, audience: str,
                 revocations: SessionRevocations | None = None) -> None:
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.revocations = revocations
        # Signature checks dominate a request's CPU; a learner sends the same token for minutes.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            principal = cached[0]
        else:
            principal = await self._verify_signature(token)
        if self.revocations and await self.revocations.is_revoked(principal.session_id):
            raise Unauthorized("Session has been revoked")
        return principal

    async def _verify_signature(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("Invalid token") from None
        if header.get("alg") not in ACCESS_ALGORITHMS or not isinstance(header.get("kid"), str):
            raise Unauthorized("Invalid token")
        key = await self.jwks.key_for(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=list(ACCESS_ALGORITHMS), audience=self.audience,
                issuer=self.issuer, leeway=10,
                options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token has expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("Invalid token") from None
        if claims.get("typ") != "access" or claims.get("role") not in ("User", "Admin"):
            raise Unauthorized("Invalid token")
        principal = Principal(user_id=str(claims["sub"]), role=claims["role"],
                              session_id=str(claims["sid"]), email=claims.get("email"), token=token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, float(claims["exp"]))
        return principal


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing Authorization Header")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """The caller (401 without a valid token). Hot routes call it directly (ds_common.web.FastQuery);
    other routes take it through `CurrentUser` / `AdminUser`."""
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.verify(bearer_token(request))


async def viewer(request: Request) -> Principal | None:
    """The caller of a public route, or None: a token that does not verify is treated as no token,
    so an expired session never hides public content."""
    if "authorization" not in request.headers:
        return None
    try:
        return await current_principal(request)
    except Unauthorized:
        return None


async def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("Admin access required")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
Viewer = Annotated[Principal | None, Depends(viewer)]
AdminUser = Annotated[Principal, Depends(require_admin)]
