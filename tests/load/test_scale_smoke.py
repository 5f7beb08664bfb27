"""The scale benchmark's own machinery on the running system (tests/load/scale.py runs it at
2,000 and 20,000 videos): one admin upload of 40 generated videos with 300-line transcripts answers
200 with every video stored, and all 40 transcripts become readable; the machine's view of the
system finds every process (memory, CPU) and the store; a catalogue point has the whole schema."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale  # tests/load is scripts, not a package
import scale_kit as kit

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import seed
import system

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


async def test_an_upload_of_40_videos_becomes_readable_and_a_point_has_the_whole_schema(whole_system: Any) -> None:
    catalogue = kit.Catalogue.for_run()
    email = f"scale-smoke-{catalogue.tag}@load.test"
    password = seed.create_account(system.operator_env("test"), email, "ScaleSmoke", "Admin")
    assert password is not None
    async with httpx.AsyncClient(base_url=whole_system.gateway, timeout=60) as client:
        r = await client.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        token = r.headers["x-ds-access-token"]
        await kit.create_channels(client, token, catalogue, 1)
        stats = kit.UploadStats()
        # Polled every 0.5 s: 40 reads a round stay under the gateway's per-IP rate of this system.
        await kit.upload(client, token, catalogue, 0, kit.VIDEOS_PER_REQUEST, stats, sampled=True,
                         poll_interval_s=0.5)
    assert stats.failures == []  # 200, and every one of the 40 videos stored
    assert stats.unreadable == [] and len(stats.lags) == 40

    idle, by_process = kit.idle_cpu(1)
    rss = kit.rss_mb()
    services = [p.name for p in system.processes("test")]
    assert set(rss) >= {*services, "ferretdb", "kafka", "redis"}, rss
    assert all(mb > 1 for mb in rss.values()), rss
    assert 0 <= idle <= (os.cpu_count() or 1) and "(rest)" in by_process
    endpoints = {"GET /service/channel": {"rps": 1.0, "p50_ms": 1.0, "p99_ms": 1.0, "errors": 0}}
    point = scale.catalogue_point(idle, by_process, endpoints, stats, rss, kit.store_mb())
    assert kit.check_schema(point) == []
    assert point["store_mb"] > 0 and point["upload"]["requests"] == 1
    assert point["upload"]["p50_s"] is not None and point["upload"]["readable_lag_p99_s"] is not None
    assert kit.check_schema(scale.catalogue_point(idle, by_process, endpoints, None, rss, 1.0)) == []
