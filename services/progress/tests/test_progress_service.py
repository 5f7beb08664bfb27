"""Progress's use cases on fakes (no servers): the quota through registrations and saves, the
access question, missed words. Events are what the relay would publish (an in-memory bus)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ds_common.auth import Principal
from ds_common.clock import FixedClock
from ds_common.events.contracts import Entitlement
from ds_common.events.memory import InMemoryBus
from ds_common.testing.kit import InMemoryDocuments
from ds_common.versioned import Decide, Written
from ds_progress.adapters.quota import Learner
from ds_progress.domain.errors import QuotaExceeded, TooManyWords
from ds_progress.service.quota import Quota
from ds_progress.service.words import MissedWords
from ds_progress.settings import Settings

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
LEARNER = Principal(user_id="learner", role="User", session_id="s")


class Ledgers:
    """QuotaLedgers in memory (the learner's ledger and plan mirror)."""

    def __init__(self, bus: InMemoryBus) -> None:
        self.documents = InMemoryDocuments(bus, version_field="rev")
        self.plans: dict[str, dict[str, Any]] = {}

    async def learner(self, user_id: str) -> Learner:
        return Learner(await self.documents.get(user_id), self.plans.get(user_id))

    async def change(self, user_id: str, decide: Decide) -> Written:
        return await self.documents.mutate(user_id, decide, created={"videos": [], "history": [], "opened": []})


class Previews:
    """ProgressCache's daily preview count, in memory."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int], set[str]] = {}

    async def preview(self, user_id: str, day_ms: int, video: str, per_day: int) -> bool:
        videos = self.seen.setdefault((user_id, day_ms), set())
        if video not in videos and len(videos) >= per_day:
            return False
        videos.add(video)
        return True


def quota_on_fakes(bus: InMemoryBus, clock: FixedClock) -> tuple[Quota, Ledgers]:
    ledgers = Ledgers(bus)
    return Quota(ledgers, Previews(), Settings(preview_videos_per_day=2), clock), ledgers  # type: ignore[arg-type]


async def test_four_videos_a_cycle_each_started_once() -> None:
    bus, clock = InMemoryBus(), FixedClock(NOW)
    quota, ledgers = quota_on_fakes(bus, clock)
    for video in ("v1", "v2", "v1", "v3", "v4"):
        assert await quota.start(LEARNER, await ledgers.learner("learner"), "ch", video, clock.now()) in ("new",
                                                                                                          "known")
    started = bus.of_type("video.started")
    assert [(e.data["video_id"], e.sequence, e.data["counted"]) for e in started] == [
        ("v1", 1, True), ("v2", 2, True), ("v3", 3, True), ("v4", 4, True)]
    assert started[0].data["cycle_end"] == (NOW + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    with pytest.raises(QuotaExceeded):
        await quota.start(LEARNER, await ledgers.learner("learner"), "ch", "v5", clock.now())
    assert (await quota.check(LEARNER, "ch", "v5"))["canProceed"] is False
    assert (await quota.check(LEARNER, "ch", "v2"))["notifyQuota"] is False  # re-opening is free
    clock.advance(timedelta(days=30))
    assert await quota.start(LEARNER, await ledgers.learner("learner"), "ch", "v5", clock.now()) == "new"


async def test_paid_learners_and_admins_are_unlimited_but_still_announce_their_starts() -> None:
    bus, clock = InMemoryBus(), FixedClock(NOW)
    quota, ledgers = quota_on_fakes(bus, clock)
    ledgers.plans["learner"] = Entitlement(plan="Pro", expires_at=NOW + timedelta(days=10)).model_dump()
    for video in ("a", "b", "c", "d", "e", "a"):
        await quota.start(LEARNER, await ledgers.learner("learner"), "ch", video, clock.now())
    assert [e.data["counted"] for e in bus.of_type("video.started")] == [False] * 5
    assert (await quota.check(LEARNER, "ch", "z"))["limit"] == -1
    clock.advance(timedelta(days=11))  # the plan ran out: the quota applies again
    assert (await quota.check(LEARNER, "ch", "z"))["limit"] == 4


async def test_what_a_learner_may_read_before_registering() -> None:
    bus, clock = InMemoryBus(), FixedClock(NOW)
    quota, ledgers = quota_on_fakes(bus, clock)
    assert [(await quota.may_read(LEARNER, "ch", v))["reason"] for v in ("p1", "p2", "p1", "p3")] == [
        "preview", "preview", "preview", "preview_limit"]
    for video in ("v1", "v2", "v3", "v4"):
        await quota.start(LEARNER, await ledgers.learner("learner"), "ch", video, clock.now())
    assert await quota.may_read(LEARNER, "ch", "v1") == {"allowed": True, "reason": "registered"}
    assert await quota.may_read(LEARNER, "ch", "v9") == {"allowed": False, "reason": "quota_exceeded"}
    admin = Principal(user_id="boss", role="Admin", session_id="s")
    assert await quota.may_read(admin, "ch", "v9") == {"allowed": True, "reason": "admin"}


class WordLists:
    """MissedWordLists in memory."""

    def __init__(self) -> None:
        self.documents = InMemoryDocuments()

    async def get(self, user_id: str) -> dict[str, list[str]]:
        return dict(((await self.documents.get(user_id)) or {}).get("words") or {})

    async def change(self, user_id: str, changed: Any) -> dict[str, list[str]]:
        from ds_common.versioned import Change

        def decide(current: dict[str, Any] | None) -> Change | None:
            stored = dict((current or {}).get("words") or {})
            after = changed(stored)
            return None if after == stored else Change(set={"words": after})

        written = await self.documents.mutate(user_id, decide)
        return dict((written.document or {}).get("words") or {})


async def test_missed_words_are_grouped_bounded_and_removed() -> None:
    words = MissedWords(WordLists())  # type: ignore[arg-type]
    added = await words.add("u", ["morning", "漢字", "morning"])
    assert added == {"message": "Missed words updated successfully", "missed_words": ["漢字", "morning"],
                     "structured_missed_words": {"zh": ["漢字"], "en": ["morning"]}}
    assert (await words.remove("u", ["漢字"]))["structured_missed_words"] == {"en": ["morning"]}
    assert await words.list("u") == {"missed_words": ["morning"], "structured_missed_words": {"en": ["morning"]}}
    with pytest.raises(TooManyWords):
        await words.add("u", [f"w{i}" for i in range(5000)])
