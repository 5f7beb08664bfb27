"""The domain rules without I/O (and the practice credit's Redis script, which must agree with them)."""

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from ds_common.events.contracts import paid_until
from ds_common.redis import KeySpace
from ds_progress.adapters.cache import ProgressCache
from ds_progress.domain.errors import InvalidInput, TooManyWords
from ds_progress.domain.practice import SAVE_SLACK_SECONDS, checked_duration, credit, initial_horizon
from ds_progress.domain.quota import current_cycle, decide
from ds_progress.domain.words import MAX_WORDS_PER_USER, group_words, with_words, without_words, word_language

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def test_cycles_roll_on_a_fixed_grid_anchored_at_first_registration() -> None:
    start = NOW - timedelta(days=75)
    cycle = current_cycle({"cycle_start": start, "videos": ["a:b"]}, NOW, 30)
    assert cycle.start == start + timedelta(days=60) and cycle.end == start + timedelta(days=90)
    assert cycle.videos == ()
    same = current_cycle({"cycle_start": NOW - timedelta(days=29), "videos": ["a:b"]}, NOW, 30)
    assert same.videos == ("a:b",)
    assert current_cycle(None, NOW, 30).start == NOW


def test_quota_decision() -> None:
    cycle = current_cycle({"cycle_start": NOW, "videos": ["1", "2", "3", "4"]}, NOW, 30)
    assert decide(cycle, ["1", "2", "3", "4"], "5", 4).can_proceed is False
    assert decide(cycle, ["1", "2", "3", "4"], "2", 4).counts is False
    assert decide(current_cycle(None, NOW, 30), [], "1", 4).can_proceed is True


def test_durations_are_validated() -> None:
    assert checked_duration(30) == 30 and checked_duration(0) == 0
    for bad in (-1, float("nan"), float("inf"), 4 * 3600 + 1):
        with pytest.raises(InvalidInput):
            checked_duration(bad)


def test_paid_plans_expire_at_read_time() -> None:
    """The plan mirror is read with the shared rule (ds_common.events.contracts)."""
    assert paid_until({"plan": "Pro", "expires_at": NOW + timedelta(days=1)}, NOW)
    assert not paid_until({"plan": "Pro", "expires_at": NOW - timedelta(seconds=1)}, NOW)
    assert paid_until({"plan": "Basic", "status": "cancelled", "expires_at": NOW + timedelta(days=3)}, NOW)
    assert not paid_until({"plan": "Premium", "status": "expired"}, NOW)
    assert not paid_until({"plan": "Free"}, NOW) and not paid_until(None, NOW)


def test_words_by_first_character() -> None:
    assert [word_language(w) for w in ("中文", "ひらがな", "カタカナ", "한국", "word", "", "ñ", "Ω")] == [
        "zh", "ja", "ja", "ko", "en", "other", "en", "other"]
    assert group_words(["a", "a", "A", "漢字"]) == {"en": ["a", "A"], "zh": ["漢字"]}


def test_missed_words_are_bounded_and_removed_everywhere() -> None:
    stored = with_words({}, ["a", "漢字", "a"])
    assert stored == {"en": ["a"], "zh": ["漢字"]}
    assert without_words(stored, ["漢字", "nope"]) == {"en": ["a"]}
    full = {"en": [f"w{i}" for i in range(MAX_WORDS_PER_USER)]}
    assert with_words(full, ["w1"]) == full  # a word kept already adds nothing
    with pytest.raises(TooManyWords):
        with_words(full, ["one-more"])


def test_a_learners_practice_starts_no_earlier_than_their_account() -> None:
    assert initial_horizon(1000.0, 1005.0) == 1000.0
    assert credit(initial_horizon(1000.0, 1005.0), 1005.0, 14_400) == (20, 1020.0)  # 5 s old: 5 s + slack
    assert initial_horizon(None, 1005.0) == 1005.0  # not heard of yet: this save is the start
    assert credit(initial_horizon(None, 1005.0), 1005.0, 14_400)[0] == SAVE_SLACK_SECONDS
    assert initial_horizon(2000.0, 1005.0) == 1005.0  # a clock ahead of ours never moves it past now


def test_practice_is_credited_up_to_the_wall_clock() -> None:
    assert credit(0, 1000.0, 30) == (30, 1000.0)  # a first save: the 30 s before now
    assert credit(1000.0, 1030.0, 30) == (30, 1030.0)  # every 30 s: all of it
    assert credit(1030.0, 1030.0, 30) == (SAVE_SLACK_SECONDS, 1030.0 + SAVE_SLACK_SECONDS)  # at most slack ahead
    assert credit(1045.0, 1030.0, 30)[0] == 0  # credited up to the slack already
    assert credit(1000.0, 1100.0, 0) == (0, 1100.0)


@pytest.mark.integration
async def test_the_credit_script_agrees_with_the_rule(redis) -> None:
    """adapters/cache.py runs `credit` in Redis (atomic per learner): same credits, same horizon."""
    cache = ProgressCache(redis, KeySpace(f"rules{time.time_ns()}"), listings=None)  # type: ignore[arg-type]
    rng = random.Random(7)
    horizon, now = 0.0, 1_800_000_000.0
    assert await cache.credit_practice("learner", 30.0, now) is None  # no horizon yet: the caller says where
    for step in range(200):
        now += rng.choice([0.0, 0.04, 1.0, 12.5, 30.0, 31.0, 600.0])
        claimed = rng.choice([0.0, 1.0, 5.0, 14.9, 30.0, 45.5, 3600.0])
        expected, horizon = credit(horizon, now, claimed)
        assert await cache.credit_practice("learner", claimed, now, initial_horizon_s=0.0) == expected, step
