"""Every event contract of the platform. Topics are named after the event type.

Changes within a version are additive only; a breaking change is a new version registered beside
the old one. Full-state events (`user.updated`, `plan.changed`) carry the whole state so that a
consumer needs only the newest one (by `sequence`) to be right.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ds_common.events.envelope import EventData
from ds_common.events.registry import contract

PlanName = Literal["Free", "Basic", "Pro", "Premium"]


# --- auth ---------------------------------------------------------------------------------------
@contract("user.registered", producer="auth")
class UserRegistered(EventData):
    """A person signed in for the first time and got a user id."""

    user_id: str
    email: str
    username: str
    avatar: str = ""
    role: Literal["User", "Admin"] = "User"
    created_at: datetime


@contract("user.updated", producer="auth")
class UserUpdated(EventData):
    """A user's profile or role changed; carries the full public profile."""

    user_id: str
    email: str
    username: str
    avatar: str = ""
    role: Literal["User", "Admin"] = "User"
    language: str = "en"


@contract("session.revoked", producer="auth")
class SessionRevoked(EventData):
    """A session ended (logout or refresh-token reuse); its access tokens must be refused."""

    session_id: str
    user_id: str
    reason: Literal["logout", "refresh_reuse", "admin"] = "logout"
    access_expires_at: datetime


# --- billing ------------------------------------------------------------------------------------
class Entitlement(BaseModel):
    """A user's plan as billing decided it. Whether it is paid at a given instant is decided here,
    for every service: billing's `plan.changed` may be days old when it is read."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    plan: PlanName = "Free"
    status: Literal["active", "cancelled", "expired"] = "active"
    expires_at: datetime | None = None  # when access ends (None: never, e.g. a permanent grant)
    next_payment_at: datetime | None = None
    is_recurring: bool = False
    cancel_at_period_end: bool = False

    def paid_until(self, now: datetime) -> datetime | None:
        """When paid access ends (`datetime.max` for never), or None if the plan is not paid now.
        A cancelled plan stays paid until it expires; `next_payment_at` is when a renewal is due,
        which billing has already folded into `expires_at`."""
        if self.plan == "Free" or self.status == "expired":
            return None
        if self.expires_at is None:
            return datetime.max.replace(tzinfo=now.tzinfo)
        return self.expires_at if self.expires_at > now else None

    def is_paid(self, now: datetime) -> bool:
        return self.paid_until(now) is not None


def paid_until(entitlement: Mapping[str, Any] | Entitlement | None, now: datetime) -> datetime | None:
    """`Entitlement.paid_until` of a stored entitlement (a projection's document), None if absent."""
    if entitlement is None:
        return None
    stored = entitlement if isinstance(entitlement, Entitlement) else Entitlement.model_validate(entitlement)
    return stored.paid_until(now)


@contract("plan.changed", producer="billing")
class PlanChanged(EventData):
    """A user's entitlement changed. `sequence` is the per-user entitlement version."""

    user_id: str
    entitlement: Entitlement
    source: Literal["stripe", "zpay", "code", "admin", "expiry", "refund"]
    reason: str = ""


@contract("payment.completed", producer="billing")
class PaymentCompleted(EventData):
    """A payment was fulfilled (once per provider payment)."""

    payment_id: str
    user_id: str
    provider: Literal["stripe", "zpay", "code", "admin"]
    plan: PlanName
    days: int
    amount_minor: int = 0
    currency: str = ""
    provider_ref: str = ""


@contract("billing.stripe_event_received", producer="billing")
class StripeEventReceived(EventData):
    """Internal to billing: a verified Stripe webhook event, published by the API (once per delivery),
    awaiting fulfilment by the consumer (once per Stripe event id).

    `fact` is what billing read from the Stripe object (ids, user id, plan, amounts, periods);
    the raw object, with the customer's personal details, never travels on Kafka.
    """

    stripe_event_id: str
    stripe_type: str
    created: datetime
    fact: dict[str, Any] | None = None


# --- catalog ------------------------------------------------------------------------------------
class TranscriptLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    start: float
    end: float
    transcript: str


@contract("channel.updated", producer="catalog")
class ChannelUpdated(EventData):
    """A channel was created or changed; carries its full public description."""

    channel_id: str
    name: str
    image_url: str = ""
    link: str = ""
    language: str = "en"
    visibility: str = "public"


class VideoMetadata(EventData):
    """What the catalog knows about a video (shared by the video events that carry full metadata)."""

    channel_id: str
    video_id: str
    title: str
    link: str
    language: str = "en"
    visibility: str = "public"


@contract("video.published", producer="catalog")
class VideoPublished(VideoMetadata):
    """A video was added to a channel. `transcript` carries uploaded SRT lines when there were any."""

    transcript_source: Literal["uploaded_srt", "youtube"] = "youtube"
    transcript: list[TranscriptLine] | None = None
    srt_text: str | None = None


@contract("video.updated", producer="catalog")
class VideoUpdated(VideoMetadata):
    """A video's metadata changed; carries the full metadata."""


@contract("video.removed", producer="catalog")
class VideoRemoved(EventData):
    """A video was deleted from the catalog."""

    channel_id: str
    video_id: str


# --- transcripts --------------------------------------------------------------------------------
@contract("transcript.ready", producer="transcripts")
class TranscriptReady(EventData):
    """A video's transcript is stored and can be served."""

    channel_id: str
    video_id: str
    line_count: int
    source: Literal["uploaded_srt", "youtube", "yt_dlp", "edited", "speech_to_text"]
    is_refined: bool = False
    refined_at: datetime | None = None


@contract("transcript.failed", producer="transcripts")
class TranscriptFailed(EventData):
    """Fetching a video's transcript failed."""

    channel_id: str
    video_id: str
    reason: str
    retryable: bool


@contract("transcript.stt_requested", producer="transcripts")
class SpeechToTextRequested(EventData):
    """An admin asked for a transcript made from the video's audio; the speech-to-text workers
    take the job (`job_id` names this request: a new request is a new job)."""

    channel_id: str
    video_id: str
    job_id: str


@contract("transcript.refined", producer="transcripts")
class TranscriptRefined(EventData):
    """An editor marked or unmarked a transcript as refined."""

    channel_id: str
    video_id: str
    is_refined: bool
    refined_at: datetime | None = None


# --- progress -----------------------------------------------------------------------------------
@contract("video.started", producer="progress")
class VideoStarted(EventData):
    """A learner registered a video for the first time in a quota cycle."""

    user_id: str
    channel_id: str
    video_id: str
    cycle_start: datetime
    cycle_end: datetime
    counted: bool = True  # false for learners with an unlimited plan


@contract("practice.recorded", producer="progress")
class PracticeRecorded(EventData):
    """A learner practised for `duration_s` seconds on a video (one progress save), reaching
    `completion` percent; `last_input` is the last sentence the save typed (at `last_input_index`),
    which admin views show as the learner's latest activity."""

    user_id: str
    channel_id: str
    video_id: str
    duration_s: int
    recorded_at: datetime
    completion: float | None = None
    last_input_index: int | None = None
    last_input: str = ""
