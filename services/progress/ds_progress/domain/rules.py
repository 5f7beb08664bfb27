"""The rules of the learner's record, without I/O: ids, quota cycles, plans, practice time, words."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ds_common.errors import BadRequest

# YouTube channel and video ids (letters, digits, - and _). They become Mongo field-name parts
# and Redis key parts, so nothing else is accepted.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# W20: `duration` is the practice since the learner's previous save. Credited practice never runs
# ahead of the wall clock by more than SAVE_SLACK_SECONDS (adapters/cache.py, `credit_practice`),
# and one save claims at most MAX_SAVE_SECONDS (a save every 30 s is the norm; hours mean a
# broken client).
SAVE_SLACK_SECONDS = 15
MAX_SAVE_SECONDS = 4 * 3600


def check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise BadRequest(f"Invalid {what}")
    return value


def progress_key(user_id: str, channel_id: str, video_id: str) -> str:
    return f"{user_id}:{channel_id}:{video_id}"


def video_key(channel_id: str, video_id: str) -> str:
    """The legacy quota unit "{channelId}:{videoId}"."""
    return f"{channel_id}:{video_id}"


def checked_duration(claimed: float) -> float:
    """A save's claimed practice seconds, validated (W20); crediting is `credit_practice`'s."""
    if not math.isfinite(claimed) or claimed < 0:
        raise BadRequest("duration must be a non-negative number of seconds")
    if claimed > MAX_SAVE_SECONDS:
        raise BadRequest(f"duration must not exceed {MAX_SAVE_SECONDS} seconds")
    return claimed


LAST_INPUT_CHARS = 200


def last_input(inputs: dict[str, str]) -> tuple[int | None, str]:
    """The last sentence a save typed (highest index with text), shortened for events."""
    typed = [int(index) for index, text in inputs.items() if text.strip()]
    if not typed:
        return None, ""
    index = max(typed)
    return index, inputs[str(index)][:LAST_INPUT_CHARS]


# --- plans ---------------------------------------------------------------------------------------
def has_paid_plan(entitlement: dict[str, Any] | None, now: datetime) -> bool:
    """An active paid plan, expiry evaluated now (billing's `plan.changed` may be days old)."""
    if not entitlement or entitlement.get("plan", "Free") == "Free" or entitlement.get("status") == "expired":
        return False
    ends = entitlement.get("expires_at") or entitlement.get("next_payment_at")
    return ends is None or ends > now


# --- quota (legacy §5.1, enforced on the server) ------------------------------------------------
@dataclass(frozen=True)
class Cycle:
    start: datetime
    end: datetime
    videos: tuple[str, ...]  # distinct videos counted in this cycle


def current_cycle(doc: dict[str, Any] | None, now: datetime, days: int) -> Cycle:
    """The cycle `now` falls in: anchored at the first registration, on a fixed grid of `days`.

    Without a quota document the cycle would start now (it starts at the first registration).
    """
    length = timedelta(days=days)
    if not doc:
        return Cycle(now, now + length, ())
    start: datetime = doc["cycle_start"]
    if now >= start + length:
        steps = (now - start) // length
        return Cycle(start + steps * length, start + (steps + 1) * length, ())
    return Cycle(start, start + length, tuple(doc.get("videos", ())))


@dataclass(frozen=True)
class QuotaDecision:
    can_proceed: bool
    counts: bool  # registering this video would consume quota (legacy notifyQuota)


def decide(cycle: Cycle, history: set[str] | list[str], key: str, limit: int) -> QuotaDecision:
    if key in history:  # re-opening a started video is always free
        return QuotaDecision(True, False)
    return QuotaDecision(len(cycle.videos) < limit, True)


# --- missed words (legacy §5.6) ------------------------------------------------------------------
LANGUAGES = ("zh", "ja", "ko", "en", "other")


def word_language(word: str) -> str:
    """The language of a word, decided by its first character's code point."""
    if not word:
        return "other"
    cp = ord(word[0])
    if 0x4E00 <= cp <= 0x9FFF:
        return "zh"
    if 0x3040 <= cp <= 0x30FF:
        return "ja"
    if 0xAC00 <= cp <= 0xD7A3:
        return "ko"
    if 0x20 <= cp <= 0xFF:
        return "en"
    return "other"


def group_words(words: list[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for word in words:
        bucket = grouped.setdefault(word_language(word), [])
        if word not in bucket:
            bucket.append(word)
    return grouped
