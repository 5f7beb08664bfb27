"""Progress benchmark: autosave (POST /user/progress, 20 inputs) and restore (GET /user/progress).

    flock /tmp/ds-tests.lock python3 -m uv run python services/progress/bench/run.py

Starts the API (2 workers) against the test infrastructure with a fresh database and drives each
scenario with wrk at 32 connections for 10 s (1,000 learners with valid tokens, rotating):

- save_api_only: the API alone, after each learner has saved once (the autosave steady state; a
  session's first save also reads the learner's totals from the store). Afterwards every answered
  save is counted in the journal (durability check: stored saves >= requests wrk saw answered).
- get_progress: restore, with the relay and the consumer running, after every learner has saved
  once and opened the video once (which fills the Redis copy, as in the front end's flow).
- save_full_system: autosave with the relay (practice events to Kafka) and the consumer
  (statistics projection and journal compaction) running beside the API, as deployed.

Targets (issue 7): >= 1,500 req/s each, p99 <= 50 ms; the load to carry is 10,000 learners
autosaving every 30 s = ~333 saves/s. Writes bench/results/progress.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import uuid

import httpx
from ds_common.mongo import make_mongo_client
from ds_common.testing.bench import Request, ServiceEnv, fresh_service_env, service_process, write_results, wrk
from ds_common.testing.infra import free_port
from ds_common.testing.jwks import TestIssuer

LEARNERS = 1000
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "10"))
TARGET_RPS, P99_TARGET_MS, AUTOSAVE_LOAD = 1500, 50, 10_000 / 30


_letters = random.Random(7)
# A 2,000-word vocabulary of made-up words: typed text that compresses no better than real text.
WORDS = ["".join(_letters.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_letters.randint(2, 9)))
         for _ in range(2000)]


def typed_sentence(learner: int, sentence: int) -> str:
    """What a learner typed: differs per learner and sentence, so stored payloads compress like real text."""
    picks = random.Random(learner * 100 + sentence)
    return " ".join(picks.choice(WORDS) for _ in range(picks.randint(6, 12)))


def body(i: int) -> dict:
    return {"channelId": f"UCbench{i % 20:02d}", "videoId": f"vid{i % 50:08d}",
            "userInput": {str(k): typed_sentence(i, k) for k in range(20)},
            "currentTime": 1_760_000_000_000, "overallCompletion": 42.5, "duration": 30}


async def seed(base: str, headers: list[dict[str, str]]) -> None:
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        async def one(i: int) -> None:
            async with limit:
                (await http.post("/user/progress", json=body(i), headers=headers[i])).raise_for_status()
        await asyncio.gather(*(one(i) for i in range(len(headers))))


async def warm(base: str, gets: list[Request]) -> None:
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        async def one(r: Request) -> None:
            async with limit:
                (await http.get(r.path, headers=dict(r.headers))).raise_for_status()
        await asyncio.gather(*(one(r) for r in gets))


async def stored_saves(mongo_url: str, db: str) -> int:
    client = make_mongo_client(mongo_url)
    try:
        return sum([len(d["k"]) async for d in client[db].journal.find({}, {"k": 1})])
    finally:
        await client.close()


def judged(stats: dict) -> dict:
    stats["meets_target"] = stats["rps"] >= TARGET_RPS and stats["p99_ms"] <= P99_TARGET_MS
    stats["headroom_vs_333_saves_per_s"] = round(stats["rps"] / AUTOSAVE_LOAD, 1)
    return stats


def main() -> int:
    issuer = TestIssuer()
    issuer.serve()
    headers = [issuer.headers(f"bench-learner-{i}-{uuid.uuid4().hex[:6]}") for i in range(LEARNERS)]
    json_headers = [{**h, "Content-Type": "application/json"} for h in headers]
    saves = [Request("POST", "/user/progress", json_headers[i], json.dumps(body(i), separators=(",", ":")))
             for i in range(LEARNERS)]
    gets = [Request("GET", f"/user/progress?channelId={body(i)['channelId']}&videoId={body(i)['videoId']}",
                    headers[i]) for i in range(LEARNERS)]
    results: dict[str, object] = {"learners": LEARNERS, "inputs_per_save": 20, "api_workers": 2,
                                  "target_rps": TARGET_RPS, "target_p99_ms": P99_TARGET_MS,
                                  "autosave_load_saves_per_s": round(AUTOSAVE_LOAD, 1)}

    def environment() -> contextlib.AbstractContextManager[ServiceEnv]:  # a fresh database per scenario
        return fresh_service_env("progress", jwks_url=issuer.url)

    try:
        with environment() as run, service_process("ds_progress", "api", free_port(), run.vars, workers=2) as base:
            asyncio.run(seed(base, headers))  # steady state: each learner's session has saved before
            stats = judged(wrk(base, saves, duration_s=DURATION_S))
            stats["saves_stored"] = asyncio.run(stored_saves(run.endpoints.mongo_url, run.database)) - LEARNERS
            stats["every_answered_save_stored"] = stats["saves_stored"] >= stats["requests"] - stats["errors_status"]
            results["save_api_only"] = stats

        with environment() as run, \
                service_process("ds_progress", "relay", free_port(), run.vars), \
                service_process("ds_progress", "consumer", free_port(), run.vars), \
                service_process("ds_progress", "api", free_port(), run.vars, workers=2) as base:
            # Each learner saves once, then opens the video (the first GET fills the cache, as
            # when a learner opens a video before autosaving); wrk then restores at full speed.
            asyncio.run(seed(base, headers))
            asyncio.run(warm(base, gets))
            results["get_progress"] = judged(wrk(base, gets, duration_s=DURATION_S))
            results["save_full_system"] = judged(wrk(base, saves, duration_s=DURATION_S))
    finally:
        issuer.close()
    write_results("progress", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
