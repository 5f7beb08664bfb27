"""What the routes share: the stores and collaborators of one API process, and small helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from ds_common.clock import Clock
from ds_common.redis import RateLimiter, too_many
from fastapi import Depends, Request
from fastapi.responses import Response

from ds_auth.adapters.feedback import FeedbackStore
from ds_auth.adapters.identity import IdentityVerifier
from ds_auth.adapters.keys import KeyRing
from ds_auth.adapters.sessions import SessionStore
from ds_auth.adapters.users import UserStore
from ds_auth.domain.tokens import RefreshToken
from ds_auth.settings import Settings

ACCESS_HEADER = "x-ds-access-token"
REFRESH_HEADER = "x-ds-refresh-token"
WINDOW_S = 60


class Limiter(RateLimiter):
    """ds_common's fixed-window limiter (same keys, same 429), several buckets per round trip:
    sign-in and refresh are limited per IP and per account at once, on hot paths."""

    async def hit_all(self, buckets: Sequence[tuple[str, str, int]], *, window_s: int) -> None:
        keys = [self._key(bucket, subject, window_s) for bucket, subject, _ in buckets]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, window_s + 1)
            replies = await pipe.execute()
        if any(int(count) > limit for count, (_, _, limit) in zip(replies[::2], buckets, strict=True)):
            raise too_many(window_s)


@dataclass
class AuthContext:
    settings: Settings
    clock: Clock
    keyring: KeyRing
    users: UserStore
    sessions: SessionStore
    identity: IdentityVerifier
    feedback: FeedbackStore
    limiter: Limiter

    async def limit(self, *buckets: tuple[str, str, int]) -> None:
        """Hit every (bucket, subject, limit) in one Redis round trip; 429 if any is over."""
        await self.limiter.hit_all(buckets, window_s=WINDOW_S)

    async def refuse_if_failing(self, bucket: str, subject: str, limit: int) -> None:
        """429 once `subject` has `limit` failures counted (`failed`) in this window."""
        await self.limiter.refuse_if_over(bucket, subject, limit=limit, window_s=WINDOW_S)

    async def failed(self, bucket: str, subject: str) -> None:
        await self.limiter.count(bucket, subject, window_s=WINDOW_S)

    def token_headers(self, user: dict[str, Any], refresh: RefreshToken) -> dict[str, str]:
        access, _ = self.keyring.access_token(user_id=user["user_id"], role=user["role"],
                                              session_id=refresh.session_id, email=user["email"],
                                              ttl_s=self.settings.access_token_ttl_s)
        return {ACCESS_HEADER: access, REFRESH_HEADER: str(refresh)}

    async def signed_in(self, user_id: str, message: str | None) -> Response:
        """A new session for `user_id`: legacy body `{message, user}` (or the bare user) + token headers."""
        refresh = await self.sessions.create(user_id)
        user = await self.users.user_object(user_id)
        body = {"message": message, "user": user} if message is not None else user
        return json_response(body, headers=self.token_headers(user, refresh))


def context_of(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth
    return context


async def _context(request: Request) -> AuthContext:  # async: no threadpool hop per request
    return context_of(request)


Ctx = Annotated[AuthContext, Depends(_context)]


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON bytes straight from orjson (hot paths; typed fields, no JSON-decoding quirks)."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def client_ip(request: Request) -> str:
    # uvicorn resolves X-Forwarded-For from trusted proxies (FORWARDED_ALLOW_IPS) into client.host.
    return request.client.host if request.client else "unknown"
