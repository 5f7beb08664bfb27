"""The free-plan quota, enforced on the server (W12): a free learner may start a limited number of
distinct videos per cycle; re-opening a started video is always free.

A learner's ledger (one document, version `rev`): the current cycle's start and its videos, the
history of every video counted (kept across cycles), and the videos opened under an unlimited
plan (`opened`, which only feed `video.started` for popularity). Cycles follow a fixed grid of
`cycle_days` from the first registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ds_common.events.contracts import VideoStarted
from ds_common.versioned import Change

from ds_progress.domain.errors import QuotaExceeded


def video_key(channel_id: str, video_id: str) -> str:
    """The quota's unit, "{channelId}:{videoId}"."""
    return f"{channel_id}:{video_id}"


@dataclass(frozen=True)
class Cycle:
    start: datetime
    end: datetime
    videos: tuple[str, ...]  # distinct videos counted in this cycle


def current_cycle(ledger: dict[str, Any] | None, now: datetime, days: int) -> Cycle:
    """The cycle `now` falls in: anchored at the first registration, on a fixed grid of `days`.
    Without a ledger the cycle would start now (it starts at the first registration)."""
    length = timedelta(days=days)
    if not ledger:
        return Cycle(now, now + length, ())
    start: datetime = ledger["cycle_start"]
    if now >= start + length:
        steps = (now - start) // length
        return Cycle(start + steps * length, start + (steps + 1) * length, ())
    return Cycle(start, start + length, tuple(ledger.get("videos", ())))


@dataclass(frozen=True)
class QuotaDecision:
    can_proceed: bool
    counts: bool  # registering this video would consume quota (the legacy notifyQuota)


def decide(cycle: Cycle, history: set[str] | list[str], key: str, limit: int) -> QuotaDecision:
    if key in history:  # re-opening a started video is always free
        return QuotaDecision(True, False)
    return QuotaDecision(len(cycle.videos) < limit, True)


def listed(ledger: dict[str, Any] | None, key: str, *, unlimited: bool) -> bool:
    """Is this video in the ledger already (counted, or opened under an unlimited plan)?"""
    return key in (ledger or {}).get("history", []) or (unlimited and key in (ledger or {}).get("opened", []))


def registration(ledger: dict[str, Any] | None, user_id: str, channel_id: str, video_id: str, now: datetime, *,
                 unlimited: bool, limit: int, cycle_days: int) -> Change | None:
    """What registering a video changes in the ledger, with its `video.started`; None when the
    video is registered already; QuotaExceeded when a free learner's cycle is full."""
    key = video_key(channel_id, video_id)
    if listed(ledger, key, unlimited=unlimited):
        return None
    cycle = current_cycle(ledger, now, cycle_days)
    if not unlimited and not decide(cycle, (ledger or {}).get("history", []), key, limit).can_proceed:
        raise QuotaExceeded()
    list_name = "opened" if unlimited else "history"
    fields: dict[str, Any] = {
        "cycle_start": cycle.start, "videos": list(cycle.videos) if unlimited else [*cycle.videos, key],
        list_name: [*(ledger or {}).get(list_name, []), key]}
    started = VideoStarted(user_id=user_id, channel_id=channel_id, video_id=video_id, cycle_start=cycle.start,
                           cycle_end=cycle.end, counted=not unlimited)
    return Change(set=fields, events=[started])
