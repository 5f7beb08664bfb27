"""Auth's request and response models (the legacy front end's shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ds_auth.adapters.passwords import MAX_LENGTH, MIN_LENGTH
from ds_auth.domain.users import MAX_AVATAR, MAX_NAME, ConfigUpdate, Language, Role

__all__ = [
    "AdminReply", "AdminUser", "ConfigAnswer", "ConfigSaved", "ConfigUpdate", "EmailBody", "EmailCheck",
    "FeedbackEntry", "FeedbackSender", "FeedbackSent", "Jwks", "Message", "RegisterBody", "RoleBody",
    "RoleResult", "RoleUpdates", "SignInBody", "SignedInAnswer", "UserObject", "UserPage",
]

MAX_TOKEN = 16_384
Email = Annotated[str, Field(max_length=320)]


# --- requests ----------------------------------------------------------------------------------
class SignInBody(BaseModel):
    """Legacy `{email, username, avatar}` plus the proof: `id_token` or `password`."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    username: str | None = Field(default=None, max_length=4096)
    avatar: str | None = Field(default=None, max_length=8192)
    id_token: str | None = Field(default=None, max_length=MAX_TOKEN)
    password: str | None = Field(default=None, max_length=MAX_LENGTH)


class RegisterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=MAX_NAME)
    email: Email
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    avatar: str = Field(default="", max_length=MAX_AVATAR)


class EmailBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[Email] = Field(min_length=1, max_length=100)
    role: Role


class AdminReply(BaseModel):
    """An admin's reply: JSON, or the `email` and `response` fields of a multipart form (with `images`)."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    response: str = Field(max_length=20_000)


# --- answers -----------------------------------------------------------------------------------
class Message(BaseModel):
    message: str


class Shortcuts(BaseModel):
    repeat: str | None = None
    next: str | None = None
    prev: str | None = None


class DictationConfig(BaseModel):
    playback_speed: float
    auto_repeat: int
    shortcuts: Shortcuts


class Plan(BaseModel):
    """The legacy Plan: Free unless paid now; `nextPaymentTime` only when a renewal is due."""

    name: str
    expireTime: int | None  # epoch ms; None: Free, or never expires
    isRecurring: bool
    status: Literal["active", "cancelled"]
    nextPaymentTime: int | None = None


class UserObject(BaseModel):
    """The legacy User object (no credentials ever)."""

    user_id: str
    email: str
    username: str
    avatar: str
    role: Role
    language: Language
    dictation_config: DictationConfig
    email_verified: bool  # whether the owner proved the address (a sign-in through an identity provider)
    created_at: int  # epoch ms
    updated_at: int
    plan: Plan


class SignedInAnswer(BaseModel):
    """Sign-in and registration; the tokens are in the `X-DS-Access-Token` and `X-DS-Refresh-Token` headers."""

    message: str
    user: UserObject


class EmailCheck(BaseModel):
    exists: bool
    message: str


class PracticeSummary(BaseModel):
    """A learner's latest typed practice, keyed `<channel id>:<video id>` in `dictation_progress`."""

    userInput: dict[str, str]
    currentTime: int  # epoch ms
    overallCompletion: float


class AdminUser(UserObject):
    dictation_progress: dict[str, PracticeSummary]


class UserPage(BaseModel):
    users: list[AdminUser]
    next_cursor: str | None


class RoleResult(BaseModel):
    email: str
    success: bool
    message: str


class RoleUpdates(BaseModel):
    message: str
    results: list[RoleResult]


class ConfigAnswer(BaseModel):
    config: UserObject


class ConfigSaved(BaseModel):
    message: str
    config: UserObject


class FeedbackEntry(BaseModel):
    id: str
    sender: str
    senderType: Literal["user", "admin"]
    message: str
    email: str
    timestamp: int  # epoch ms
    images: list[str]  # attachment ids when sent; links (valid for an hour or two) when a thread is read
    emailVerified: bool | None = None  # a learner's message: whether their address was proven


class FeedbackSent(BaseModel):
    message: str
    feedback: FeedbackEntry


class FeedbackSender(BaseModel):
    email: str
    timestamp: int  # epoch ms of the newest message
    emailVerified: bool  # whether the learner has proven the address


class Jwks(BaseModel):
    keys: list[dict[str, Any]]
