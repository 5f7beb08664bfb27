"""Transcripts benchmark: cached GET video-transcript of a 300-line transcript, 32 connections.

    flock /tmp/ds-tests.lock python3 -m uv run python services/transcripts/bench/run.py

Starts the API (2 workers) against the test infrastructure with a fresh database, seeds one video
with a 300-line uploaded SRT through the real `video.published` handler, and the access
projections through the real `video.started` / `plan.changed` handlers (64 free learners who
registered the video, 64 paid learners). progress is pointed at a closed port on purpose: a
request that needed it would fail, so the figures are the service's own read path. Each scenario
rotates through its learners' valid tokens with wrk (32 connections, 10 s) after a warm-up, and
the figures go to bench/results/transcripts.json. Target: >= 2,000 req/s, p99 <= 30 ms.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from ds_common.events.consumer import handlers as by_topic
from ds_common.events.contracts import Entitlement, PlanChanged, VideoPublished, VideoStarted
from ds_common.events.envelope import new_event
from ds_common.runtime import open_stores
from ds_common.testing.bench import Request, fresh_service_env, service_process, write_results, wrk
from ds_common.testing.infra import free_port
from ds_common.testing.jwks import TestIssuer
from ds_transcripts.main import build_transcripts, default_fetcher
from ds_transcripts.messaging.handlers import handlers
from ds_transcripts.service.videos import VideoEvents
from ds_transcripts.settings import Settings

LINES, LEARNERS = 300, 64
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
RPS_TARGET, P99_TARGET_MS = 2000, 30
CHANNEL, VIDEO = "UCbenchTranscripts", "benchVideo1"


def srt(lines: int) -> str:
    def ts(ms: int) -> str:
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    return "\n".join(f"{i + 1}\n{ts(i * 2500)} --> {ts(i * 2500 + 2300)}\n"
                     f"This is sentence number {i + 1} of the practice video, spoken clearly.\n" for i in range(lines))


async def seed(settings: Settings, free: list[str], paid: list[str]) -> None:
    """Through the real consumer handlers, as if catalog, progress and billing had published."""
    now = datetime.now(UTC)
    async with open_stores(settings) as stores:
        fetcher = default_fetcher(settings)
        on = by_topic(handlers(stores, VideoEvents(build_transcripts(settings, stores, fetcher), lambda c, v: None)))
        published = VideoPublished(channel_id=CHANNEL, video_id=VIDEO, title="Benchmark video", link="x",
                                   transcript_source="uploaded_srt", srt_text=srt(LINES))
        await on["video.published"](new_event(published, key=f"{CHANNEL}:{VIDEO}", sequence=1))
        for user in free:
            started = VideoStarted(user_id=user, channel_id=CHANNEL, video_id=VIDEO, cycle_start=now,
                                   cycle_end=now + timedelta(days=30))
            await on["video.started"](new_event(started, key=user, sequence=1))
        for user in paid:
            plan = PlanChanged(user_id=user, entitlement=Entitlement(plan="Pro", expires_at=now + timedelta(days=90)),
                               source="code")
            await on["plan.changed"](new_event(plan, key=user, sequence=1))
        fetcher.close()


def main() -> int:
    issuer = TestIssuer()
    issuer.serve()
    service_name = "txbench" + uuid.uuid4().hex[:6]  # own Redis key space
    free = [f"bench-free-{i}" for i in range(LEARNERS)]
    paid = [f"bench-paid-{i}" for i in range(LEARNERS)]
    path = f"/service/video-transcript/{CHANNEL}/{VIDEO}"
    results: dict[str, object] = {}
    try:
        with fresh_service_env("transcripts", jwks_url=issuer.url, SERVICE_NAME=service_name,
                               PROGRESS_URL=f"http://127.0.0.1:{free_port()}") as run:
            settings = Settings(mongo_url=run.endpoints.mongo_url, mongo_db=run.database,
                                redis_url=run.endpoints.redis_url, kafka_bootstrap=run.endpoints.kafka_bootstrap,
                                service_name=service_name)
            asyncio.run(seed(settings, free, paid))
            with service_process("ds_transcripts", "api", free_port(), run.vars, workers=WORKERS) as base:
                check = httpx.get(base + path, headers=issuer.headers(free[0]), timeout=10)
                check.raise_for_status()
                assert len(check.json()["transcript"]) == LINES, check.text[:200]
                results["response_bytes"] = len(check.content)
                scenarios = {
                    "video_transcript_300_lines_free_learners_registered":
                        [Request("GET", path, issuer.headers(u)) for u in free],
                    "video_transcript_300_lines_paid_learners":
                        [Request("GET", path, issuer.headers(u)) for u in paid],
                }
                for name, requests in scenarios.items():
                    wrk(base, requests, connections=32, duration_s=3)  # warm-up: token and decision caches
                    stats = wrk(base, requests, connections=32, duration_s=DURATION_S)
                    stats["meets_target"] = (stats["rps"] >= RPS_TARGET and stats["p99_ms"] <= P99_TARGET_MS
                                             and stats["errors_status"] == 0)
                    results[name] = stats
            results["target"] = {"min_rps": RPS_TARGET, "max_p99_ms": P99_TARGET_MS, "connections": 32,
                                 "api_workers": WORKERS}
            write_results("transcripts", results)
    finally:
        issuer.close()
    return 0 if all(s.get("meets_target") for s in results.values() if isinstance(s, dict) and "rps" in s) else 1


if __name__ == "__main__":
    sys.exit(main())
