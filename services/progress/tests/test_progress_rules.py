"""The domain rules without I/O."""

from datetime import UTC, datetime, timedelta

import pytest
from ds_common.errors import BadRequest
from ds_progress.domain.rules import (
    checked_duration,
    current_cycle,
    decide,
    group_words,
    has_paid_plan,
    word_language,
)

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
        with pytest.raises(BadRequest):
            checked_duration(bad)


def test_paid_plans_expire_at_read_time() -> None:
    assert has_paid_plan({"plan": "Pro", "expires_at": NOW + timedelta(days=1)}, NOW)
    assert not has_paid_plan({"plan": "Pro", "expires_at": NOW - timedelta(seconds=1)}, NOW)
    assert has_paid_plan({"plan": "Basic", "status": "cancelled", "next_payment_at": NOW + timedelta(days=3)}, NOW)
    assert not has_paid_plan({"plan": "Premium", "status": "expired"}, NOW)
    assert not has_paid_plan({"plan": "Free"}, NOW) and not has_paid_plan(None, NOW)


def test_words_by_first_character() -> None:
    assert [word_language(w) for w in ("中文", "ひらがな", "カタカナ", "한국", "word", "", "ñ", "Ω")] == [
        "zh", "ja", "ja", "ko", "en", "other", "en", "other"]
    assert group_words(["a", "a", "A", "漢字"]) == {"en": ["a", "A"], "zh": ["漢字"]}
