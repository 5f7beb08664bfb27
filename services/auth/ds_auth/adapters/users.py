"""Users in Mongo (every hot lookup by `_id`), with a Redis copy of the public profile (ds_common.cache).

Collections:
- `users`: `_id` = immutable user id; profile, role, preferences, `version` (the sequence of its
  events); `user.registered` / `user.updated` sit in its outbox, written with the change.
- `emails`: `_id` = normalised e-mail → user id. Inserting it is the claim that makes concurrent
  first sign-ins of one person create ONE user (FerretDB uses no secondary index for lookups).
- `credentials`: `_id` = user id → argon2id hash; kept apart so no user read can leak it.
- `plans`: `_id` = user id → billing's entitlement, mirrored from `plan.changed`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
from ds_common.cache import DocumentCache
from ds_common.clock import Clock
from ds_common.errors import NotFound
from ds_common.events.consumer import apply_once_by_sequence
from ds_common.events.contracts import UserRegistered, UserUpdated
from ds_common.events.envelope import new_event
from ds_common.events.outbox import OutboxNudge, document_with_events, outbox_indexes, with_events
from ds_common.mongo import Document, IndexSpec, asc
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from redis.asyncio import Redis

from ds_auth.adapters.activity import ActivityStore
from ds_auth.domain.users import dictation_progress, new_user_document, new_user_id, profile_fields, user_object

CACHE_TTL_S = 60

INDEXES = [
    IndexSpec("users", asc("email"), unique=True),
    IndexSpec("sessions", asc("user_id")),
    IndexSpec("sessions", asc("expires_at")),
    IndexSpec("audit", asc("at")),
    IndexSpec("feedback_threads", asc("latest_at")),
    IndexSpec("attachments", asc("owner")),
    *outbox_indexes("users", "sessions"),
]


def user_copies(db: AsyncDatabase[Document], redis: Redis) -> DocumentCache:
    """The Redis copy of each user's public profile and plan, forgotten by every write to them."""
    return DocumentCache(redis, f"auth:{db.name}", "user", ttl_s=CACHE_TTL_S)


class UserStore:
    def __init__(self, db: AsyncDatabase[Document], redis: Redis, clock: Clock,
                 nudge: OutboxNudge | None = None, admin_emails: frozenset[str] = frozenset(),
                 bootstrap_needs_proof: bool = True) -> None:
        self.db = db
        self.admin_emails = admin_emails  # operator bootstrap: these e-mails register as Admin
        self.bootstrap_needs_proof = bootstrap_needs_proof
        self.copies = user_copies(db, redis)
        self.clock = clock
        self.nudge = nudge  # wakes the relay after a write that carries events

    async def _nudge(self, user_id: str) -> None:
        if self.nudge is not None:
            await self.nudge.nudge("users", user_id)

    # --- reads ------------------------------------------------------------------------------------
    async def id_for_email(self, email: str) -> str | None:
        claim = await self.db.emails.find_one({"_id": email})
        return claim["user_id"] if claim else None

    async def cached(self, user_id: str) -> dict[str, Any] | None:
        """`{"p": profile, "e": entitlement}` from the Redis copy, or from Mongo (then copied)."""
        return await self.copies.get(user_id, self._load)

    async def _load(self, user_ids: list[str]) -> dict[str, Document | None]:
        async def one(user_id: str) -> Document | None:
            doc, plan = await asyncio.gather(self.db.users.find_one({"_id": user_id}, {"_outbox": 0}),
                                             self.db.plans.find_one({"_id": user_id}))
            return None if doc is None else {"p": profile_fields(doc), "e": plan.get("entitlement") if plan else None}
        return dict(zip(user_ids, await asyncio.gather(*map(one, user_ids)), strict=True))

    async def user_object(self, user_id: str, cached: bytes | None = None) -> dict[str, Any]:
        """The legacy User object; `cached` is the raw copy when the caller already has it."""
        entry = self.copies.decode(cached) if cached else await self.cached(user_id)
        if entry is None:
            raise NotFound("User not found")
        return user_object(entry["p"], entry["e"], self.clock.now())

    async def user_object_by_email(self, email: str) -> dict[str, Any]:
        user_id = await self.id_for_email(email)
        if user_id is None:
            raise NotFound("User not found")
        return await self.user_object(user_id)

    async def forget(self, user_id: str) -> None:
        await self.copies.forget(user_id)

    async def page(self, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Users in sign-up order (ids are time-ordered), keyset-paginated, secrets never included,
        each with its latest practice (the admin table's activity columns)."""
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        docs = await self.db.users.find(query, {"_outbox": 0}).sort("_id", 1).limit(limit).to_list()
        ids = [d["_id"] for d in docs]
        plans = {p["_id"]: p.get("entitlement") for p in await self.db.plans.find({"_id": {"$in": ids}}).to_list()}
        activity = await ActivityStore(self.db).of_users(ids)
        now = self.clock.now()
        return [{**user_object(profile_fields(d), plans.get(d["_id"]), now),
                 "dictation_progress": dictation_progress(activity.get(d["_id"]))} for d in docs]

    # --- writes -----------------------------------------------------------------------------------
    async def claim_email(self, email: str) -> tuple[str, bool]:
        """The user id owning `email`, claiming it for a new id if nobody has; (id, claimed now)."""
        user_id = new_user_id()
        try:
            await self.db.emails.insert_one({"_id": email, "user_id": user_id, "at": self.clock.now()})
            return user_id, True
        except DuplicateKeyError:
            existing = await self.id_for_email(email)
            assert existing is not None
            return existing, False

    async def ensure_document(self, user_id: str, email: str, username: str, avatar: str, *,
                              email_verified: bool, role: str | None = None) -> tuple[Document, bool]:
        """The user document, created with its `user.registered` event if missing (exactly once).

        Without an explicit `role` (an operator's account), the operator's bootstrap admins get the
        Admin role; with `bootstrap_needs_proof` (production) only when the mailbox was proven (a
        provider sign-in): whoever registers such an address first with a password must not become
        an admin.
        """
        doc = await self.db.users.find_one({"_id": user_id}, {"_outbox": 0})
        if doc is not None:
            return doc, False
        now = self.clock.now()
        proven = email_verified or not self.bootstrap_needs_proof
        role = role or ("Admin" if proven and email in self.admin_emails else "User")
        doc = new_user_document(user_id, email, username, avatar, now, role, email_verified=email_verified)
        event = new_event(UserRegistered(user_id=user_id, email=email, username=doc["username"], avatar=avatar,
                                         role=role, created_at=now), key=user_id, sequence=1)
        try:
            await self.db.users.insert_one(document_with_events(doc, event))
            await self._nudge(user_id)
            return doc, True
        except DuplicateKeyError:  # a concurrent first sign-in of the same person won
            found = await self.db.users.find_one({"_id": user_id}, {"_outbox": 0})
            assert found is not None
            return found, False

    async def update(self, user_id: str, changes: dict[str, Any], *, attempts: int = 5) -> Document:
        """Apply `$set` changes; when the public profile changes, `user.updated` rides in the same write.

        Optimistic concurrency on `version`, so each event's sequence is exact and consecutive.
        """
        for _ in range(attempts):
            doc = await self.db.users.find_one({"_id": user_id}, {"_outbox": 0})
            if doc is None:
                raise NotFound("User not found")
            after = _apply_dotted(doc, changes)
            if after == doc:
                return doc  # nothing changes: no write, no event
            fields = ("email", "username", "avatar", "role", "language")
            now = self.clock.now()
            update: dict[str, Any] = {"$set": {**changes, "updated_at": now}}
            if any(after.get(f) != doc.get(f) for f in fields):
                version = doc.get("version", 1) + 1
                update["$set"]["version"] = version
                event = new_event(UserUpdated(user_id=user_id, email=after["email"], username=after["username"],
                                              avatar=after.get("avatar", ""), role=after.get("role", "User"),
                                              language=after.get("language", "en")),
                                  key=user_id, sequence=version)
                update = with_events(update, event)
            result = await self.db.users.update_one({"_id": user_id, "version": doc.get("version", 1)}, update)
            if result.matched_count:
                await self.forget(user_id)
                if "version" in update["$set"]:
                    await self._nudge(user_id)
                return {**after, "updated_at": now}
        raise RuntimeError("user update kept conflicting")

    async def apply_plan(self, user_id: str, sequence: int, entitlement: dict[str, Any], source: str) -> bool:
        applied = await apply_once_by_sequence(self.db.plans, user_id, sequence,
                                               {"$set": {"entitlement": entitlement, "source": source}})
        await self.forget(user_id)
        return applied

    # --- credentials ------------------------------------------------------------------------------
    async def password_hash(self, user_id: str) -> Document | None:
        return await self.db.credentials.find_one({"_id": user_id})

    async def set_password(self, user_id: str, password_hash: str, *, email_verified: bool) -> bool:
        """Create the password credential; False if the account already has one."""
        try:
            await self.db.credentials.insert_one({"_id": user_id, "password_hash": password_hash,
                                                  "email_verified": email_verified, "created_at": self.clock.now()})
            return True
        except DuplicateKeyError:
            return False

    async def replace_hash(self, user_id: str, password_hash: str) -> None:
        await self.db.credentials.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    async def drop_unverified_password(self, user_id: str) -> bool:
        """A verified provider sign-in proves the mailbox owner: a password set by someone who never
        proved it (pre-account-takeover) is removed."""
        result = await self.db.credentials.delete_one({"_id": user_id, "email_verified": False})
        return result.deleted_count > 0

    async def audit(self, actor: str, action: str, **details: Any) -> None:
        await self.db.audit.insert_one({"at": self.clock.now(), "actor": actor, "action": action, **details})


def _apply_dotted(doc: Document, changes: dict[str, Any]) -> Document:
    out: Document = orjson.loads(orjson.dumps({k: v for k, v in doc.items() if not isinstance(v, datetime)}))
    out.update({k: v for k, v in doc.items() if isinstance(v, datetime)})
    for path, value in changes.items():
        target = out
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out
