"""Plan names, their tiers, and the legacy mappings from a number of days to a plan (§5.2)."""

from __future__ import annotations

from typing import get_args

from ds_common.events.contracts import PlanName

PLAN_NAMES: tuple[PlanName, ...] = get_args(PlanName)
PAID_PLANS: tuple[PlanName, ...] = ("Basic", "Pro", "Premium")
LEVEL: dict[str, int] = {"Free": 0, "Basic": 1, "Pro": 2, "Premium": 3}

PERMANENT_DAYS = 36_500  # "permanent" in the legacy system: 100 years of 365 days
MAX_DAYS = PERMANENT_DAYS

# Admin code labels (POST /payment/generate-code).
CODE_DURATIONS: dict[str, int] = {"30days": 30, "60days": 60, "90days": 90, "permanent": PERMANENT_DAYS}


def higher(a: PlanName, b: PlanName) -> PlanName:
    return a if LEVEL[a] >= LEVEL[b] else b


def plan_for_days(days: int) -> PlanName:
    """Legacy `get_plan_name_by_duration`: >= 90 (or -1) Premium, 60..89 Pro, 1..59 Basic."""
    if days == -1 or days >= 90:
        return "Premium"
    if days >= 60:
        return "Pro"
    if days >= 1:
        return "Basic"
    return "Free"


def duration_label(days: int) -> str:
    for label, value in CODE_DURATIONS.items():
        if value == days:
            return label
    return f"custom_{days}days"
