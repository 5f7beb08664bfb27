"""Auth benchmark: `python services/auth/bench/run.py` → bench/results/auth.json.

Starts the auth API (2 worker processes) against the test infrastructure with a fresh database,
signs in SESSIONS learners through POST /auth/userinfo (Supabase-style tokens from a local
secret), then drives with wrk at 32 connections:

- `GET /auth/userinfo/{email}`: each request carries one learner's own access token (rotating).
- `POST /auth/refresh-token` with REAL rotation: every session's current refresh token is used
  exactly once; the reply's new token (`x-ds-refresh-token`) goes back into the queue and is what
  that session presents next. No request is ever served from the grace interval, so each one runs
  the full compare-and-rotate, signs a new access token and reads the user object.
- `POST /auth/userinfo` (sign-in): verifies the identity token, reads the user, creates a session
  (a Mongo insert: bounded by FerretDB's serialised writes). Reported, no target.

All traffic comes from 127.0.0.1, so the per-IP and per-session rate limits are raised for the
run (the limiter itself still runs on every request: same Redis work as in production).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from ds_common.testing.bench import (
    WRK_REPORT_LUA,
    Request,
    ensure_wrk,
    fresh_service_env,
    service_process,
    write_results,
    wrk,
)
from ds_common.testing.infra import free_port
from pymongo import MongoClient

CONNECTIONS = 32
DURATION_S = int(os.environ.get("BENCH_DURATION_S", "15"))
SESSIONS = 256  # more sessions than connections: a token is never in flight twice
ISSUER = "http://127.0.0.1:54321/auth/v1"

_ROTATING = """
local tokens, head, tail = {}, 1, 0
function init(args)
  for line in io.lines(args[1]) do tail = tail + 1; tokens[tail] = line end
end
function request()
  local t = "exhausted"
  if head <= tail then t = tokens[head]; tokens[head] = nil; head = head + 1 end
  return wrk.format("POST", "/auth/refresh-token", {["Authorization"] = "Bearer " .. t})
end
function response(status, headers, body)
  local t = headers["x-ds-refresh-token"]
  if status == 200 and t then tail = tail + 1; tokens[tail] = t end
end
""" + WRK_REPORT_LUA


def supabase_token(secret: str, email: str) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": "authenticated", "sub": str(uuid.uuid4()), "email": email,
                       "iat": now, "exp": now + 3600, "role": "authenticated",
                       "user_metadata": {"email_verified": True, "full_name": "Bench Learner"}},
                      secret, algorithm="HS256")


async def sign_in_all(url: str, secret: str, count: int) -> list[dict[str, str]]:
    limit = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient, i: int) -> dict[str, str]:
        email = f"bench-{i}-{uuid.uuid4().hex[:8]}@example.com"
        token = supabase_token(secret, email)
        async with limit:
            r = await client.post("/auth/userinfo", json={"email": email, "username": "", "avatar": ""},
                                  headers={"X-Identity-Token": token})
        r.raise_for_status()
        return {"email": email, "identity": token, "access": r.headers["x-ds-access-token"],
                "refresh": r.headers["x-ds-refresh-token"]}

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(*(one(client, i) for i in range(count)))


def wrk_rotating(url: str, refresh_tokens: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script, lines = Path(tmp, "rotate.lua"), Path(tmp, "tokens.txt")
        script.write_text(_ROTATING)
        lines.write_text("\n".join(refresh_tokens) + "\n")
        done = subprocess.run([ensure_wrk(), "-t1", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "--timeout", "5s",
                               "-s", str(script), url, "--", str(lines)],
                              capture_output=True, text=True, timeout=DURATION_S + 60, check=True)
    stats: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    stats["rps"] = round(stats["requests"] / (stats["duration_us"] / 1e6), 1)
    stats["connections"] = CONNECTIONS
    return stats


async def rotate_once(url: str, learners: list[dict[str, str]]) -> None:
    """One refresh per session (warm-up): afterwards each learner holds its session's current token."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for learner in learners:
            r = await client.post("/auth/refresh-token", headers={"Authorization": f"Bearer {learner['refresh']}"})
            r.raise_for_status()
            learner["refresh"] = r.headers["x-ds-refresh-token"]


def checkpointed(mongo_url: str, db: str) -> int:
    with MongoClient(mongo_url) as mongo:
        return mongo[db].sessions.count_documents({"refresh.gen": {"$gt": 0}})


def main() -> None:
    secret = uuid.uuid4().hex * 2
    limits = {name: "10000000" for name in ("LIMIT_IDENTITY_PER_IP", "LIMIT_IDENTITY_PER_ACCOUNT",
                                              "LIMIT_REFRESH_PER_IP", "LIMIT_REFRESH_PER_SESSION")}
    service_name = "authbench" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:8]  # own Redis keys
    with fresh_service_env("auth", SERVICE_NAME=service_name, SUPABASE_ISSUER=ISSUER, SUPABASE_JWT_SECRET=secret,
                           **limits) as run:
        env, db, infra = run.vars, run.database, run.endpoints
        results: dict[str, Any] = {}
        with service_process("ds_auth", "api", free_port(), env, workers=2) as url:
            learners = asyncio.run(sign_in_all(url, secret, SESSIONS))
            print(f"signed in {len(learners)} learners", file=sys.stderr)
            userinfo = [Request("GET", f"/auth/userinfo/{u['email']}", {"Authorization": f"Bearer {u['access']}"})
                        for u in learners]
            wrk(url, userinfo, connections=CONNECTIONS, duration_s=3)  # warm caches and connections
            results["GET /auth/userinfo/{email}"] = wrk(url, userinfo, connections=CONNECTIONS,
                                                        duration_s=DURATION_S)
            sign_ins = [Request("POST", "/auth/userinfo", {"X-Identity-Token": u["identity"],
                                                           "Content-Type": "application/json"}, "{}")
                        for u in learners]
            results["POST /auth/userinfo (sign-in, creates a session)"] = wrk(
                url, sign_ins, connections=CONNECTIONS, duration_s=5)
            # Each session's first rotation is checkpointed to Mongo; let those writes land first.
            asyncio.run(rotate_once(url, learners))
            time.sleep(5)
            results["POST /auth/refresh-token (rotating)"] = {
                **wrk_rotating(url, [u["refresh"] for u in learners]), "sessions": SESSIONS,
                "mongo_checkpoints": "default: at most one per session per 30 s (none due during the run)"}

        # Real traffic refreshes DISTINCT sessions (the UI refreshes each one about hourly), so each
        # rotation is due for a Mongo checkpoint; emulate that write load (at its cap) here.
        every = {**env, "DS_AUTH_CHECKPOINT_EVERY_S": "0"}
        with service_process("ds_auth", "api", free_port(), every, workers=2) as url:
            learners = asyncio.run(sign_in_all(url, secret, SESSIONS))
            before = checkpointed(infra.mongo_url, db)
            stats = wrk_rotating(url, [u["refresh"] for u in learners])
            results["POST /auth/refresh-token (rotating, Mongo checkpoint due on every rotation)"] = {
                **stats, "sessions": SESSIONS,
                "mongo_checkpoints": "write-behind, capped at 50 writes/s per API process (100/s in all)",
                "sessions_checkpointed_during_run": checkpointed(infra.mongo_url, db) - before}
    results["target"] = "GET /auth/userinfo/{email} and refresh: >= 1500 req/s, p99 <= 50 ms at 32 connections"
    results["setup"] = (f"auth API with 2 workers on 127.0.0.1, test FerretDB/Redis, {SESSIONS} learners; "
                        "wrk 1 thread on the same 2-core machine; rate limits raised (all traffic from one IP)")
    write_results("auth", results)


if __name__ == "__main__":
    main()
