"""Users: ids, e-mail normalisation, defaults, preferences, and the legacy User object.

Pure rules, no I/O. The plan shown in the User object is billing's entitlement mirrored from
`plan.changed`; whether it is still paid is decided at read time (legacy W13) by the one rule of
plans every service shares, `Entitlement.paid_until`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from ds_common.clock import to_ms
from ds_common.errors import DomainError
from ds_common.events.contracts import Entitlement, PracticeRecorded
from pydantic import BaseModel, ConfigDict, Field

Role = Literal["User", "Admin"]
Language = Literal["en", "zh", "zhTraditional", "ja", "ko"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{1,63}$")
_KEY_CODE = r"^[A-Za-z0-9]{1,32}$"  # KeyboardEvent.code values: Tab, Enter, ControlLeft, KeyA, ...

MAX_NAME = 200
MAX_AVATAR = 2048


class InvalidEmail(DomainError):
    """Not an e-mail address (answered 400)."""

    def __init__(self) -> None:
        super().__init__("Invalid email address")


class NothingToUpdate(DomainError):
    """A preferences update that names nothing to change (answered 400)."""

    def __init__(self) -> None:
        super().__init__("Nothing to update: send dictation_config and/or language")


def new_user_id() -> str:
    """Time-ordered ids (ms prefix + randomness), so `_id` order is sign-up order for paging."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def normalize_email(raw: str) -> str:
    """One spelling per mailbox (case and surrounding blanks do not make new accounts, legacy W27)."""
    email = raw.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidEmail()
    return email


def clean_profile_text(value: str | None, limit: int) -> str:
    return (value or "").strip()[:limit]


def profile_refresh(doc: dict[str, Any], name: str, avatar: str) -> dict[str, Any]:
    """What a provider sign-in changes in a known user: the name and avatar its verified claims
    carry, when present and different (an empty claim never blanks the stored one)."""
    return {field: value for field, value in (("username", name), ("avatar", avatar))
            if value and value != doc.get(field)}


class Shortcuts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repeat: str | None = Field(default=None, pattern=_KEY_CODE)
    next: str | None = Field(default=None, pattern=_KEY_CODE)
    prev: str | None = Field(default=None, pattern=_KEY_CODE)


class DictationConfig(BaseModel):
    """The player settings a learner may change; every field optional (partial update)."""

    model_config = ConfigDict(extra="forbid")

    playback_speed: float | None = Field(default=None, ge=0.25, le=4)
    auto_repeat: int | None = Field(default=None, ge=0, le=20)
    shortcuts: Shortcuts | None = None


class ConfigUpdate(BaseModel):
    """POST /user/config: allow-list only (legacy W2 let users write `role` and `plan`)."""

    model_config = ConfigDict(extra="forbid")

    dictation_config: DictationConfig | None = None
    language: Language | None = None

    def mongo_set(self) -> dict[str, Any]:
        """Dotted `$set` paths: a partial, atomic update (no read-modify-write, legacy W19).
        NothingToUpdate when the update names no field."""
        changes: dict[str, Any] = {}
        if self.language is not None:
            changes["language"] = self.language
        if self.dictation_config is not None:
            dc = self.dictation_config
            for name in ("playback_speed", "auto_repeat"):
                if (value := getattr(dc, name)) is not None:
                    changes[f"dictation_config.{name}"] = value
            if dc.shortcuts is not None:
                for name, value in dc.shortcuts.model_dump(exclude_none=True).items():
                    changes[f"dictation_config.shortcuts.{name}"] = value
        if not changes:
            raise NothingToUpdate()
        return changes


def default_dictation_config() -> dict[str, Any]:
    return {"playback_speed": 1, "auto_repeat": 0,
            "shortcuts": {"repeat": "Tab", "next": "Enter", "prev": "ControlLeft"}}


def new_user_document(user_id: str, email: str, username: str, avatar: str, now: datetime,
                      role: str = "User", *, email_verified: bool = False) -> dict[str, Any]:
    """A new user with the legacy defaults. `version` is the sequence of its events;
    `email_verified`: whether its owner proved the address (an identity provider's sign-in)."""
    return {
        "_id": user_id, "email": email, "username": username or email.split("@")[0], "avatar": avatar,
        "role": role, "language": "en", "dictation_config": default_dictation_config(),
        "email_verified": email_verified, "created_at": now, "updated_at": now, "version": 1,
    }


FREE_PLAN: dict[str, Any] = {"name": "Free", "expireTime": None, "isRecurring": False, "status": "active"}


def plan_view(entitlement: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The legacy Plan object from the mirrored entitlement: Free unless it is paid `now`."""
    if not entitlement:
        return dict(FREE_PLAN)
    ent = Entitlement.model_validate(entitlement)
    if not ent.is_paid(now):
        return dict(FREE_PLAN)
    plan: dict[str, Any] = {"name": ent.plan, "expireTime": to_ms(ent.expires_at) if ent.expires_at else None,
                            "isRecurring": ent.is_recurring,
                            "status": "cancelled" if ent.status == "cancelled" or ent.cancel_at_period_end
                            else "active"}
    if ent.next_payment_at is not None:
        plan["nextPaymentTime"] = to_ms(ent.next_payment_at)
    return plan


def profile_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The stored, public part of a user (cached as is); no credentials ever live in this doc."""
    return {
        "user_id": doc["_id"], "email": doc["email"], "username": doc.get("username", ""),
        "avatar": doc.get("avatar", ""), "role": doc.get("role", "User"), "language": doc.get("language", "en"),
        "dictation_config": doc.get("dictation_config") or default_dictation_config(),
        "email_verified": bool(doc.get("email_verified")),
        "created_at": to_ms(doc["created_at"]), "updated_at": to_ms(doc.get("updated_at") or doc["created_at"]),
    }


def user_object(profile: dict[str, Any], entitlement: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The legacy User object: typed fields (no JSON-decoding quirks, legacy W25) plus the plan."""
    return {**profile, "plan": plan_view(entitlement, now)}


def dictation_progress(activity: dict[str, Any] | None) -> dict[str, Any]:
    """The legacy `dictation_progress` of the admin user table, as a summary: the learner's latest
    typed practice (its time, completion and last sentence), which is what the table's "Active" and
    "Last active" read; the whole progress is GET /user/all-progress?userEmail= (progress)."""
    if not activity:
        return {}
    return {f"{activity['channel_id']}:{activity['video_id']}": {
        "userInput": {str(activity["index"]): activity["input"]}, "currentTime": to_ms(activity["at"]),
        "overallCompletion": activity["completion"]}}


def latest_typed_practice(practices: Iterable[PracticeRecorded]) -> dict[str, PracticeRecorded]:
    """Each learner's newest practice that carries typed text (a save without text is not activity)."""
    latest: dict[str, PracticeRecorded] = {}
    for practice in practices:
        kept = latest.get(practice.user_id)
        if practice.last_input and (kept is None or practice.recorded_at > kept.recorded_at):
            latest[practice.user_id] = practice
    return latest
