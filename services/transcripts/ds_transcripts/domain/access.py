"""Who may read a transcript (legacy W12: enforced on the server, not in the browser).

Admins and learners with an active paid plan always; a Free learner only for a video registered
in their current quota cycle (progress owns that ledger; we keep a projection of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def paid_until(entitlement: Mapping[str, Any] | None, now: datetime) -> datetime | None:
    """When an active paid entitlement ends (a far date for no expiry), or None if not paid now."""
    if not entitlement or entitlement.get("plan", "Free") == "Free":
        return None
    if entitlement.get("status") == "expired":
        return None
    expires = entitlement.get("expires_at")
    if expires is None:
        return datetime.max.replace(tzinfo=now.tzinfo)
    return expires if expires > now else None


def registered_until(registration: Mapping[str, Any] | None, now: datetime) -> datetime | None:
    """The end of the quota cycle the video was registered in, if that cycle is still running."""
    end = (registration or {}).get("cycle_end")
    return end if end is not None and end > now else None
