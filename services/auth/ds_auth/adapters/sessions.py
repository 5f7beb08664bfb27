"""Sessions and refresh tokens.

- Mongo `sessions` (`_id` = session id) is the durable record: owner, absolute expiry, revocation
  (with `session.revoked` in its outbox, same write) and a checkpoint of the refresh state.
- Each refresh runs in Redis, in ONE Lua script (`_REFRESH`: compare-and-rotate is atomic, so
  concurrent refreshes cannot fork a session). A refresh answers with the presented token's
  successor; the successor replaces the current token only once the client uses it (rotation on
  adoption), so the legacy front end, which keeps its first refresh token for the life of a tab,
  stays signed in, while a client that adopts rotated tokens still has a reused old one detected.
- The test server (FerretDB) serialises writes at a few hundred per second, far below the refresh
  target, so the refresh state reaches Mongo write-behind: coalesced per session, oldest first, at
  most `checkpoint_batch` writes per `checkpoint_interval_s` (so checkpoints never starve sign-ins
  and other writes). If Redis loses a session, it is restored from that checkpoint; a refresh whose
  token is newer than the checkpoint then fails with 401 (the user signs in again) — it never
  revokes or forks anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from ds_common.auth import SessionRevocations
from ds_common.clock import Clock, from_ms, to_ms
from ds_common.events.contracts import SessionRevoked
from ds_common.events.envelope import new_event
from ds_common.events.outbox import OutboxNudge, with_events
from ds_common.mongo import Document
from ds_common.redis import KeySpace
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from ds_auth.adapters.users import user_copies
from ds_auth.domain import tokens
from ds_auth.domain.tokens import Refreshed, RefreshToken, RevokeReason

logger = logging.getLogger("ds.auth.sessions")

RETIRED_KEPT = 8  # older tokens recognised as reuse (anything else is just an invalid token)

# Rotation on adoption. The answer to a refresh is always the successor of the presented token
# (derived, so concurrent refreshes with one token agree), but the successor replaces the current
# token only once the client presents it. A client that keeps its first refresh token (the legacy
# front end stores only the access token from a refresh) keeps a working session until its
# absolute lifetime; a client that adopts rotated tokens gets theft detection: once it has used a
# successor, presenting an older token after the grace interval revokes the session.
#
# KEYS[1] session hash; ARGV: presented hash, successor hash, now ms, grace ms, refresh lifetime ms,
# checkpoint interval ms, user cache key prefix. Replies carry the cached user object (or false),
# saving the refresh a round trip, and, when this refresh is due for a checkpoint, the state to write.
_REFRESH = """
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'grace', 'retired', 'exp', 'max', 'revoked', 'user', 'gen',
                     'ck', 'next')
if not s[1] then return {'missing'} end
if s[7] == '1' then return {'revoked', s[8]} end
local now = tonumber(ARGV[3])
if now > tonumber(s[5]) or now > tonumber(s[6]) then return {'expired', s[8]} end
local h = ARGV[1]
local outcome
if s[1] == h then
  outcome = 'current'
  redis.call('HSET', KEYS[1], 'next', ARGV[2])
elseif s[11] == h then
  outcome = 'rotated'
  local kept = {}
  for t in string.gmatch((s[2] or '') .. ' ' .. (s[4] or ''), '%S+') do
    if #kept < %(kept)d then kept[#kept + 1] = t end
  end
  redis.call('HSET', KEYS[1], 'cur', h, 'next', ARGV[2], 'prev', s[1], 'grace', now + tonumber(ARGV[4]),
             'retired', table.concat(kept, ' '))
elseif s[2] == h and now <= tonumber(s[3]) then
  return {'grace', s[8], redis.call('GET', ARGV[7] .. s[8])}
else
  for t in string.gmatch((s[2] or '') .. ' ' .. (s[4] or ''), '%S+') do
    if t == h then
      redis.call('HSET', KEYS[1], 'revoked', '1')
      return {'reuse', s[8]}
    end
  end
  return {'invalid', s[8]}
end
local exp = math.min(now + tonumber(ARGV[5]), tonumber(s[6]))
local ck = tonumber(s[10]) or 0
local due = now - ck >= tonumber(ARGV[6])
if due then ck = now end
redis.call('HSET', KEYS[1], 'exp', exp, 'gen', tonumber(s[9]) + 1, 'ck', ck)
redis.call('PEXPIRE', KEYS[1], exp - now + tonumber(ARGV[4]))
local user = redis.call('GET', ARGV[7] .. s[8])
if not due then return {outcome, s[8], user} end
return {outcome, s[8], user, unpack(redis.call('HMGET', KEYS[1], 'cur', 'next', 'prev', 'grace', 'retired', 'exp',
                                               'gen'))}
""".replace("%(kept)d", str(RETIRED_KEPT))
CHECKPOINTED = ("cur", "next", "prev", "grace", "retired", "exp", "gen")

# Restore a session hash from its Mongo checkpoint unless Redis already has it.
_RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class SessionStore:
    def __init__(self, db: AsyncDatabase[Document], redis: Redis, keys: KeySpace, clock: Clock, *,
                 refresh_key: bytes, refresh_ttl_s: int, max_age_s: int, grace_s: float, access_ttl_s: int,
                 revocations: SessionRevocations, nudge: OutboxNudge, checkpoint_batch: int = 100,
                 checkpoint_every_s: float = 30, max_dirty: int = 100_000) -> None:
        self.db = db
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.refresh_key = refresh_key
        self.refresh_ttl_ms = refresh_ttl_s * 1000
        self.max_age_s = max_age_s
        self.grace_ms = int(grace_s * 1000)
        self.access_ttl_s = access_ttl_s
        self.revocations = revocations
        self.nudge = nudge
        # Write-behind checkpoints: newest state per session, in order of last rotation.
        self.dirty: dict[str, dict[str, Any]] = {}
        self.checkpoint_batch = checkpoint_batch
        self.checkpoint_every_ms = int(checkpoint_every_s * 1000)
        self.max_dirty = max_dirty
        self.user_copy_prefix = user_copies(db, redis).value_key("")  # the rotation script reads the user's copy
        self._refresh = redis.register_script(_REFRESH)
        self._restore = redis.register_script(_RESTORE)

    def _key(self, session_id: str) -> str:
        return self.keys("session", session_id)

    async def create(self, user_id: str) -> RefreshToken:
        now = self.clock.now()
        token = tokens.first_token(tokens.new_session_id())
        max_ms = to_ms(now + timedelta(seconds=self.max_age_s))
        state = {"user": user_id, "cur": token.hash, "next": "", "prev": "", "grace": 0, "retired": "",
                 "exp": min(to_ms(now) + self.refresh_ttl_ms, max_ms), "max": max_ms, "gen": 0, "revoked": "0",
                 "ck": to_ms(now)}
        await self.db.sessions.insert_one({"_id": token.session_id, "user_id": user_id, "created_at": now,
                                           "expires_at": from_ms(max_ms), "revoked_at": None, "refresh": state})
        await self._restore_hash(token.session_id, state)
        return token

    async def _restore_hash(self, session_id: str, state: dict[str, Any]) -> None:
        ttl_ms = max(int(state["exp"]) - to_ms(self.clock.now()) + self.grace_ms, 1000)
        flat = [str(x) for pair in state.items() for x in pair]
        await self._restore(keys=[self._key(session_id)], args=[ttl_ms, *flat])

    async def refresh(self, token: RefreshToken) -> Refreshed:
        """One refresh; on success the token to hand out is always `token`'s successor (see _REFRESH)."""
        successor = token.successor(self.refresh_key)
        for _ in range(2):  # a second round only after restoring a session Redis had lost
            reply = await self._refresh(keys=[self._key(token.session_id)],
                                        args=[token.hash, successor.hash, to_ms(self.clock.now()), self.grace_ms,
                                              self.refresh_ttl_ms, self.checkpoint_every_ms, self.user_copy_prefix])
            outcome = reply[0].decode()
            if outcome != "missing":
                break
            if not await self._restore_from_mongo(token.session_id):
                return Refreshed("invalid")
        else:
            return Refreshed("invalid")
        user_id = reply[1].decode() if len(reply) > 1 and reply[1] else None
        if outcome in ("current", "rotated", "grace"):
            if len(reply) > 3:  # due for a checkpoint (at most one per session per interval)
                state = dict(zip(CHECKPOINTED, (r.decode() for r in reply[3:]), strict=True))
                self._mark_dirty(token.session_id, {**state, "user": user_id, "grace": int(state["grace"]),
                                                    "exp": int(state["exp"]), "gen": int(state["gen"])})
            return Refreshed(outcome, user_id, successor, reply[2] or None)
        if outcome == "reuse" and user_id:
            await self.revoke(token.session_id, user_id, reason="refresh_reuse")
        return Refreshed(outcome, user_id)

    async def _restore_from_mongo(self, session_id: str) -> bool:
        doc = await self.db.sessions.find_one({"_id": session_id}, {"_outbox": 0})
        if doc is None or doc.get("revoked_at") is not None or doc["expires_at"] <= self.clock.now():
            return False
        state = {**doc["refresh"], "revoked": "0", "ck": to_ms(self.clock.now())}
        state["max"] = to_ms(doc["expires_at"])
        await self._restore_hash(session_id, state)
        return True

    async def revoke(self, session_id: str, user_id: str, *, reason: RevokeReason) -> bool:
        """Durable revocation with its event in the same write, then immediate effect in auth."""
        now = self.clock.now()
        until = now + timedelta(seconds=self.access_ttl_s)
        event = new_event(SessionRevoked(session_id=session_id, user_id=user_id, reason=reason,
                                         access_expires_at=until),
                          key=user_id, sequence=to_ms(now))
        result = await self.db.sessions.update_one(
            {"_id": session_id, "revoked_at": None},
            with_events({"$set": {"revoked_at": now, "revoked_reason": reason}}, event))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(self._key(session_id), "revoked", "1")
            pipe.expire(self._key(session_id), self.access_ttl_s + 60)
            await pipe.execute()
        await self.revocations.revoke(session_id, until=until)
        self.dirty.pop(session_id, None)
        if result.modified_count:
            await self.nudge.nudge("sessions", session_id)
        return bool(result.modified_count)

    async def active_sessions(self, user_id: str, limit: int = 1000) -> list[str]:
        docs = self.db.sessions.find({"user_id": user_id, "revoked_at": None,
                                      "expires_at": {"$gt": self.clock.now()}}, {"_id": 1}).limit(limit)
        return [d["_id"] for d in await docs.to_list()]

    # --- write-behind checkpoints -----------------------------------------------------------------
    def _mark_dirty(self, session_id: str, state: dict[str, Any]) -> None:
        self.dirty.pop(session_id, None)  # re-inserted last: the flush takes the oldest first
        self.dirty[session_id] = state
        if len(self.dirty) > self.max_dirty:  # bounded memory; such a session just misses a checkpoint
            self.dirty.pop(next(iter(self.dirty)))

    async def flush(self, limit: int | None = None) -> int:
        if not self.dirty:
            return 0
        batch = {}
        for sid in list(self.dirty)[:limit or len(self.dirty)]:
            batch[sid] = self.dirty.pop(sid)
        ops = [UpdateOne({"_id": sid, "revoked_at": None, "refresh.gen": {"$lt": state["gen"]}},
                         {"$set": {"refresh": state}}) for sid, state in batch.items()]
        try:
            await self.db.sessions.bulk_write(ops, ordered=False)
        except Exception:
            for sid, state in batch.items():  # keep them for the next round unless newer ones came
                if sid not in self.dirty or self.dirty[sid]["gen"] < state["gen"]:
                    self.dirty[sid] = state
            raise
        return len(ops)

    async def run_checkpoints(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            try:
                # Rate-capped while running; everything on the way out (graceful shutdown).
                await self.flush(None if stop.is_set() else self.checkpoint_batch)
            except Exception:
                logger.warning("session checkpoint flush failed; retrying next round", exc_info=True)


async def purge_expired_sessions(db: AsyncDatabase[Document], now: datetime, batch: int = 500) -> int:
    """Drop sessions past their absolute expiry or idle past their refresh token's (sliding) expiry:
    the test server has no TTL indexes, and the legacy front end signs in again at every page load."""
    query = {"$or": [{"expires_at": {"$lt": now}}, {"refresh.exp": {"$lt": to_ms(now)}}]}
    ids = [d["_id"] for d in await db.sessions.find(query, {"_id": 1}).limit(batch).to_list()]
    if not ids:
        return 0
    result = await db.sessions.delete_many({"_id": {"$in": ids}, "_outbox_pending": {"$ne": True}})
    return result.deleted_count
