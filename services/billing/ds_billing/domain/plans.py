"""Plan names, their tiers, and the legacy mappings from a number of days to a plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar, get_args

from ds_common.errors import DomainError
from ds_common.events.contracts import PlanName

PLAN_NAMES: tuple[PlanName, ...] = get_args(PlanName)
PAID_PLANS: tuple[PlanName, ...] = ("Basic", "Pro", "Premium")
LEVEL: dict[str, int] = {"Free": 0, "Basic": 1, "Pro": 2, "Premium": 3}

PERMANENT_DAYS = 36_500  # "permanent" in the legacy system: 100 years of 365 days
MAX_DAYS = PERMANENT_DAYS

# Admin code labels (POST /payment/generate-code).
CODE_DURATIONS: dict[str, int] = {"30days": 30, "60days": 60, "90days": 90, "permanent": PERMANENT_DAYS}


class UnknownPlan(DomainError):
    def __init__(self) -> None:
        super().__init__("Invalid plan selected")


class WrongDuration(DomainError):
    """The client named a number of days the plan does not have (the catalogue decides them, W9)."""

    def __init__(self, plan: str, days: int) -> None:
        super().__init__(f"Invalid duration for {plan} plan. Expected {days} days")


class PlanOrDurationRequired(DomainError):
    def __init__(self) -> None:
        super().__init__("A plan or a duration is required")


class Offer(Protocol):
    """A plan of the server's catalogue (settings.PlanOffer)."""

    @property
    def days(self) -> int: ...

    @property
    def currency(self) -> str: ...


OfferT = TypeVar("OfferT", bound=Offer)


def offer_for(plans: Mapping[str, OfferT], plan: str, duration: int | None = None, *,
              currency: str | None = None) -> OfferT:
    """The catalogue's offer a learner buys: the plan must exist (and be sold in `currency`), and a
    duration the client sends must be the plan's own (legacy W9: the client chose the days)."""
    offer = plans.get(plan)
    if offer is None or (currency is not None and offer.currency.lower() != currency):
        raise UnknownPlan
    if duration is not None and duration != offer.days:
        raise WrongDuration(plan, offer.days)
    return offer


def admin_change(plan: PlanName | None, duration: int | None, plans: Mapping[str, Offer]) -> tuple[PlanName, int]:
    """The plan and days an admin's plan change sets: a plan named, or named from the duration
    (the legacy "edit membership" sends days only; -1 is permanent); the days given, or the plan's."""
    if plan is None and duration is None:
        raise PlanOrDurationRequired
    days = PERMANENT_DAYS if duration == -1 else duration
    named = plan or plan_for_days(duration or 0)
    offer = plans.get(named)
    return named, days or (offer.days if offer else 0)


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
