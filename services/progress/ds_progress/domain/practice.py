"""Practice time (W20): what a save may claim, and how much of it is credited.

A save's `duration` is the practice since the learner's previous save. It is credited up to the
wall clock: each learner has a practice horizon, the time up to which practice has been credited;
a claim covers the seconds before now, time already credited is not credited again, and the credit
may run at most `SAVE_SLACK_SECONDS` ahead of now (requests arrive a little early or late). So
saving more often, or from several tabs at once, never adds more practice than time passed.
`credit` is the rule; adapters/cache.py runs the same formula atomically in Redis (`_CREDIT`, a
Lua script; a test checks the two agree). A learner without a horizon (a first save, or none for a
day) starts from `initial_horizon`: the account's creation, never before, so a save seconds after
sign-up cannot claim hours of practice.
"""

from __future__ import annotations

import math

from ds_progress.domain.errors import InvalidInput

SAVE_SLACK_SECONDS = 15
MAX_SAVE_SECONDS = 4 * 3600  # a save every 30 s is the norm; hours mean a broken client
LAST_INPUT_CHARS = 200


def checked_duration(claimed: float) -> float:
    """A save's claimed practice seconds, validated."""
    if not math.isfinite(claimed) or claimed < 0:
        raise InvalidInput("duration must be a non-negative number of seconds")
    if claimed > MAX_SAVE_SECONDS:
        raise InvalidInput(f"duration must not exceed {MAX_SAVE_SECONDS} seconds")
    return claimed


def credit(horizon: float, now: float, claimed: float, slack: float = SAVE_SLACK_SECONDS) -> tuple[int, float]:
    """(whole seconds credited, the new horizon) for a claim of `claimed` seconds at `now` (epoch
    seconds), the learner's practice having been credited up to `horizon`."""
    start = max(horizon, now - claimed)
    credited = math.floor(max(0.0, min(claimed, now + slack - start)) + 0.5)
    return credited, start + credited


def initial_horizon(account_created_s: float | None, now: float) -> float:
    """Where a learner's practice horizon starts: when their account was created, or now (this
    first save) when progress has not heard of the account yet."""
    return now if account_created_s is None else min(account_created_s, now)


def last_input(inputs: dict[str, str]) -> tuple[int | None, str]:
    """The last sentence a save typed (highest index with text), shortened for events."""
    typed = [int(index) for index, text in inputs.items() if text.strip()]
    if not typed:
        return None, ""
    index = max(typed)
    return index, inputs[str(index)][:LAST_INPUT_CHARS]
