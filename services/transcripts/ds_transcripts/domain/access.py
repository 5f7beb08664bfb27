"""Who may read a transcript (legacy W12: enforced on the server, not in the browser).

Admins always. Learners only what the catalog shows them (a public video of a public channel;
anything else reads as a video that does not exist), and of that: with a paid plan everything; on
the Free plan a video registered in their current quota cycle (progress owns that ledger; we keep
a projection of it). Whether a plan is paid is the shared rule
(`ds_common.events.contracts.paid_until`), judged at read time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ds_common.errors import DomainError
from ds_common.events.contracts import paid_until

# progress's refusal reasons (its /internal/access), as the learner reads them
REFUSALS = {
    "quota_exceeded": "Your free quota for this cycle is used up; upgrade your plan to practise this video",
    "preview_limit": "You opened many new videos today; start this video to read its transcript",
}


class AccessRefused(DomainError):
    """The learner may not read this transcript now (403, with its `reason`)."""


def refusal(reason: str) -> AccessRefused:
    """The refusal for progress's `reason` (an unknown or missing one reads as the quota)."""
    return AccessRefused(REFUSALS.get(reason, REFUSALS["quota_exceeded"]), reason=reason or "quota_exceeded")


def shown(channel: Mapping[str, Any] | None, video: Mapping[str, Any] | None) -> bool:
    """Whether the catalog shows the video to learners (the channel from `channel.updated`, the
    video's own visibility and status from its transcript document)."""
    return ((channel or {}).get("visibility") == "public" and (video or {}).get("visibility") == "public"
            and (video or {}).get("status") != "removed")


def registered_until(registration: Mapping[str, Any] | None, now: datetime) -> datetime | None:
    """The end of the quota cycle the video was registered in, if that cycle is still running."""
    end = (registration or {}).get("cycle_end")
    return end if end is not None and end > now else None


def allowed_until(entitlement: Mapping[str, Any] | None, registration: Mapping[str, Any] | None,
                  now: datetime) -> datetime | None:
    """Until when the projections let the learner in (a paid plan first, then the registration),
    or None when they do not: progress must then be asked."""
    return paid_until(entitlement, now) or registered_until(registration, now)
