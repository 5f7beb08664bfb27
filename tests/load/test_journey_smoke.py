"""The load scenario itself is exercised here (a few learners, one journey each): every step of it
answers 2xx through the gateway, so `tests/load/run.py` measures working requests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from journey import create_learners, run_journeys  # tests/load is scripts, not a package

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import seed
import system

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_every_journey_step_succeeds_for_concurrent_learners(whole_system: Any) -> None:
    seed.main(whole_system.gateway, system.operator_env("test"))  # the demo data, as `make dev` has it
    learners = create_learners(whole_system.gateway, 4)
    stats = await run_journeys(whole_system.gateway, learners, "demo-stories", "aaaaaaaaaa1",
                               iterations=2, deadline_s=60)
    assert stats.journeys == 8
    assert dict(stats.failures) == {}
    assert set(stats.summary()) >= {"channels", "transcript", "progress_save", "userinfo"}
