"""Load benchmark through the gateway: req/s and p50/p99 per journey endpoint at 64 connections,
next to the floor (a constant-JSON FastAPI endpoint behind the same nginx config), plus the
learner-journey scenario's per-step latencies. Writes bench/results/load-gateway.json.
Autosave is measured twice: as the front end sends it (30 s of practice claimed per save; the
server credits at most the wall-clock time, so with each learner saving many times a second about
one save a second per learner credits practice and emits a `practice.recorded` event) and with
duration 0 (no event).

The floor is measured before and after the endpoints; ratios and targets use the higher of the two.

    make bench-load        (or: uv run python tests/load/run.py [--duration 10] [--connections 64] [--warmup 2])

Each measurement waits until the machine is quiet (the previous endpoint's background work, such
as journal compaction after the autosave run, has drained: `settled_s`), then follows an unmeasured
warm-up of the same requests (default 2 s); the floor's too.

Starts the whole system in the `test` profile (separate ports, fresh e2e databases) and stops it
at the end. The gateway's per-IP rate limits are raised for this run only: every request comes
from 127.0.0.1, which a real deployment would throttle as one client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from ds_common.testing.bench import Request, service_process, write_results, wrk
from ds_common.testing.infra import free_port
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import infra  # scripts, not packages
import seed
import system
from journey import Learner, auto_save_body, create_learners, run_journeys

HERE = Path(__file__).resolve().parent
CHANNEL, VIDEO = "demo-stories", "aaaaaaaaaa1"
UNTHROTTLED = {
    "DS_GATEWAY_RATE": "1000000", "DS_GATEWAY_AUTH_RATE": "1000000",
    "DS_AUTH_LIMIT_PASSWORD_PER_IP": "100000", "DS_AUTH_LIMIT_REGISTER_PER_IP": "100000",
    "DS_AUTH_LIMIT_PASSWORD_FAILURES_PER_ACCOUNT": "100000", "DS_AUTH_LIMIT_IDENTITY_PER_IP": "100000",
    "DS_AUTH_LIMIT_IDENTITY_PER_ACCOUNT": "100000", "DS_AUTH_LIMIT_REGISTER_PER_ADDRESS": "100000",
    "DS_AUTH_LIMIT_CHECK_EMAIL_PER_ADDRESS": "100000", "DS_AUTH_LIMIT_REFRESH_PER_IP": "100000",
    "DS_LOG_LEVEL": "WARNING",
}


def scenarios(learners: list[Learner]) -> dict[str, list[Request]]:
    def each(method: str, path: str, body: object | None = None, **extra: str) -> list[Request]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return [Request(method, path.format(email=lr.email), {**headers, "Authorization": f"Bearer {lr.access}"},
                        json.dumps(body) if body is not None else "") for lr in learners]

    base = "/dictation-studio"
    key = f"channelId={CHANNEL}&videoId={VIDEO}"
    return {
        "GET /service/channel": [Request("GET", f"{base}/service/channel?visibility=public&language=all", {})],
        "GET /service/video-list/{id}": each("GET", f"{base}/service/video-list/{CHANNEL}?visibility=public"),
        "GET /user/progress/channel": each("GET", f"{base}/user/progress/channel?channelId={CHANNEL}"),
        "GET /user/dictation_quota": each("GET", f"{base}/user/dictation_quota?{key}"),
        "POST /user/register_dictation": each("POST", f"{base}/user/register_dictation",
                                              {"channelId": CHANNEL, "videoId": VIDEO}),
        "GET /service/video-transcript/{c}/{v}": each("GET", f"{base}/service/video-transcript/{CHANNEL}/{VIDEO}"),
        "GET /user/progress": each("GET", f"{base}/user/progress?{key}"),
        "POST /user/progress": each("POST", f"{base}/user/progress", auto_save_body(CHANNEL, VIDEO)),
        "GET /user/missed-words": each("GET", f"{base}/user/missed-words"),
        "GET /user/config": each("GET", f"{base}/user/config"),
        "GET /user/all-progress": each("GET", f"{base}/user/all-progress"),
        "GET /auth/userinfo/{email}": each("GET", base + "/auth/userinfo/{email}"),
        # Not a separate endpoint: autosave without practice seconds, so without the event that
        # feeds the statistics. The difference to the line above is what recording practice costs.
        "POST /user/progress, duration 0 (no practice event)": each(
            "POST", f"{base}/user/progress", {**auto_save_body(CHANNEL, VIDEO), "duration": 0}),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--learners", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before each measurement")
    args = parser.parse_args()

    mongo = MongoClient(infra.endpoints("test")["DS_MONGO_URL"])
    system.down("test")
    for name in system.SERVICES:
        mongo.drop_database(f"e2e{name}")
    system.up("test", UNTHROTTLED)
    gateway_port = system.processes("test")[-1].port
    base_url = f"http://127.0.0.1:{gateway_port}"
    results: dict[str, object] = {}
    try:
        seed.main(f"{base_url}/dictation-studio", system.operator_env("test"))
        learners = create_learners(f"{base_url}/dictation-studio", args.learners)
        with httpx.Client(base_url=f"{base_url}/dictation-studio", timeout=30) as client:
            for learner in learners:  # each learner has started the video: transcript access allowed
                client.post("/user/register_dictation", json={"channelId": CHANNEL, "videoId": VIDEO},
                            headers={"Authorization": f"Bearer {learner.access}"}).raise_for_status()
        time.sleep(2)  # projections settle (video.started → transcripts' access projection)

        floor_before = measure_floor(args.duration, args.connections, args.warmup)
        endpoints = {name: measure(base_url, requests, args.duration, args.connections, args.warmup)
                     for name, requests in scenarios(learners).items()}
        floor_after = measure_floor(args.duration, args.connections, args.warmup)
        results["floor: constant JSON behind the gateway"] = floor_before
        results["floor, measured again after the endpoints"] = floor_after
        floor_rps = max(floor_before["rps"], floor_after["rps"])
        for name, stats in endpoints.items():
            stats["ratio_to_floor"] = round(stats["rps"] / floor_rps, 3)
            stats["target_met"] = stats["ratio_to_floor"] >= 0.5 and stats["p99_ms"] <= 100 \
                and stats["errors_status"] == 0
            results[name] = stats
        wait_until_quiet()
        started, cpu_before = time.monotonic(), time.process_time()
        journey = asyncio.run(run_journeys(f"{base_url}/dictation-studio", learners[:32], CHANNEL, VIDEO,
                                           iterations=5, deadline_s=120))
        elapsed = time.monotonic() - started
        results["journey (32 concurrent learners, 5 journeys each)"] = {
            "journeys": journey.journeys, "seconds": round(elapsed, 1), "steps": journey.summary(),
            "failures": {k: v[:3] for k, v in journey.failures.items()},
            # The scenario's client is one Python process on the same 2 cores: when it is near
            # 100 %, its per-step latencies include its own queueing, not only the system's.
            "client_cpu_percent": round(100 * (time.process_time() - cpu_before) / elapsed)}
    finally:
        system.down("test")
    write_results("load-gateway", results)


def cpu_busy_fraction(interval_s: float = 1.0) -> float:
    """The share of the machine's CPU time spent busy over `interval_s` (from /proc/stat)."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait
    total0, idle0 = sample()
    time.sleep(interval_s)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_until_quiet(limit_s: float = 90, busy_below: float = 0.25) -> float:
    """Wait until the background work the previous measurement caused (journal compaction,
    consumers, relays) has drained, so each endpoint is measured on a settled system."""
    started = time.monotonic()
    while cpu_busy_fraction() >= busy_below and time.monotonic() - started < limit_s:
        pass
    return round(time.monotonic() - started, 1)


def measure(base_url: str, requests: list[Request], duration: int, connections: int, warmup: int) -> dict[str, Any]:
    """Steady state on a settled system: wait for the machine to be quiet, then a short unmeasured
    run (connections opened, caches filled), as a server that has been up a while would be."""
    settled_s = wait_until_quiet()
    if warmup:
        wrk(base_url, requests, connections=connections, duration_s=warmup)
    return {**wrk(base_url, requests, connections=connections, duration_s=duration), "settled_s": settled_s}


def measure_floor(duration: int, connections: int, warmup: int) -> dict[str, Any]:
    """The constant-JSON app behind its own nginx instance rendered from the same template."""
    port = free_port()
    state = Path(infra.ROOT / ".run" / "floor")
    with service_process("floor_app", "", port, {}, argv=[sys.executable, str(HERE / "floor_app.py"),
                                                           "--port", str(port)]):
        gw = system.Gateway("gateway", free_port(), state, upstreams={s: [port] for s in system.SERVICES},
                            rate="1000000", auth_rate="1000000")
        proc = gw.spawn()
        assert proc is not None
        gw.wait_healthy(proc)
        try:
            return measure(f"http://127.0.0.1:{gw.port}",
                           [Request("GET", "/dictation-studio/service/channel?visibility=public&language=all", {})],
                           duration, connections, warmup)
        finally:
            gw.stop()


if __name__ == "__main__":
    main()
