"""Catalog benchmark: the public channel list and a channel's video list, 50 channels x 40 videos.

    flock /tmp/ds-tests.lock python3 -m uv run python services/catalog/bench/run.py

Starts the API (2 workers) and the relay against the test infrastructure with a fresh database,
seeds through the real admin routes (50 channels, then one multipart upload of 40 videos with
SRT files per channel), then drives each scenario with wrk at 32 connections for 10 s and writes
bench/results/catalog.json. Targets (issue 3): channel list >= 1,500 req/s, video list >= 1,000
req/s, p99 <= 50 ms each.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import httpx
from ds_common.testing.bench import Request, fresh_service_env, service_process, write_results, wrk
from ds_common.testing.infra import free_port
from ds_common.testing.jwks import TestIssuer

CHANNELS, VIDEOS_PER_CHANNEL, CUES_PER_VIDEO = 50, 40, 40
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
TARGETS = {"channel_list": 1500, "video_list": 1000}
P99_TARGET_MS = 50


def srt(cues: int) -> str:
    return "\n".join(f"{i + 1}\n00:{i // 30:02d}:{i * 2 % 60:02d},000 --> 00:{i // 30:02d}:{i * 2 % 60:02d},900\n"
                     f"Sentence number {i + 1} of this practice video.\n" for i in range(cues))


def seed(base: str, admin: dict[str, str]) -> list[str]:
    channel_ids = [f"UCbench{i:03d}{uuid.uuid4().hex[:6]}" for i in range(CHANNELS)]
    started = time.monotonic()
    with httpx.Client(base_url=base, headers=admin, timeout=600) as http:
        channels = [{"id": c, "name": f"Bench channel {i}", "image_url": f"https://img.example/{c}.jpg",
                     "link": f"https://www.youtube.com/channel/{c}", "language": "en", "visibility": "public"}
                    for i, c in enumerate(channel_ids)]
        http.post("/service/channel", json={"channels": channels}).raise_for_status()
        text = srt(CUES_PER_VIDEO).encode()
        for c in channel_ids:
            ids = [uuid.uuid4().hex[:11] for _ in range(VIDEOS_PER_CHANNEL)]
            items = [{"channel_id": c, "video_link": f"https://www.youtube.com/watch?v={v}",
                      "title": f"Practice video {v}", "visibility": "public"} for v in ids]
            files = [("transcript_files", (f"{v}.srt", text, "application/x-subrip")) for v in ids]
            r = http.post("/service/video-list", data={"data": json.dumps(items)}, files=files)
            r.raise_for_status()
            assert r.json()["success_count"] == VIDEOS_PER_CHANNEL, r.text
    print(f"seeded {CHANNELS} x {VIDEOS_PER_CHANNEL} videos in {time.monotonic() - started:.1f} s", flush=True)
    return channel_ids


def warm_up(base: str, scenarios: list[list[Request]], deadline_s: float = 300) -> None:
    """Drive every scenario until both workers answer every request from their caches.

    A cold list is built from FerretDB, which scans the collection for each lookup (the seeded
    videos still carry their outbox with the transcripts, as no relay runs here): the first 100
    builds (50 lists x 2 workers) under load take tens of seconds. A round counts as warm when
    nothing timed out and no request took longer than a build does.
    """
    deadline = time.monotonic() + deadline_s
    for requests in scenarios:
        while True:
            stats = wrk(base, requests, duration_s=5)
            warm = stats["errors_timeout"] == 0 and stats["max_ms"] < 250 and stats["rps"] > 500
            print(f"warm-up {requests[0].path[:40]}: {stats['rps']:.0f} req/s, max {stats['max_ms']:.0f} ms, "
                  f"timeouts {stats['errors_timeout']}", flush=True)
            if warm or time.monotonic() > deadline:
                break


def main() -> int:
    issuer = TestIssuer()
    issuer.serve()
    admin = issuer.headers("bench-admin", role="Admin", email="admin@example.com")
    learners = [issuer.headers(f"bench-user-{i}", email=f"u{i}@example.com") for i in range(CHANNELS)]
    try:
        # The relay and the consumer are left out: they are not on the read path.
        with fresh_service_env("catalog", jwks_url=issuer.url) as run, \
                service_process("ds_catalog", "api", free_port(), run.vars, workers=WORKERS) as base:
            channel_ids = seed(base, admin)
            channel_list = [Request("GET", "/service/channel?visibility=public&language=all", {})]
            video_lists = [Request("GET", f"/service/video-list/{c}?visibility=public", learners[i])
                           for i, c in enumerate(channel_ids)]
            random_video = [Request("GET", "/service/random-video", h) for h in learners]
            warm_up(base, [channel_list, video_lists, random_video])
            with httpx.Client(base_url=base) as http:
                sample = http.get(video_lists[0].path, headers=dict(video_lists[0].headers)).json()
                assert len(sample["videos"]) == VIDEOS_PER_CHANNEL
                assert len(http.get(channel_list[0].path).json()) == CHANNELS
            results = {
                "seed": {"channels": CHANNELS, "videos_per_channel": VIDEOS_PER_CHANNEL, "api_workers": WORKERS},
                "channel_list": wrk(base, channel_list, duration_s=DURATION_S),
                "video_list": wrk(base, video_lists, duration_s=DURATION_S),
                "random_video": wrk(base, random_video, duration_s=DURATION_S),
            }
    finally:
        issuer.close()
    verdict = {name: results[name]["rps"] >= target and results[name]["p99_ms"] <= P99_TARGET_MS
               and results[name]["errors_status"] == 0 for name, target in TARGETS.items()}
    results["targets"] = {"min_rps": TARGETS, "max_p99_ms": P99_TARGET_MS, "met": verdict}
    write_results(os.environ.get("BENCH_NAME", "catalog"), results)
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
