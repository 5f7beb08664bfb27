"""Benchmark plumbing: start a service's processes, drive them with wrk, write the figures.

Benchmarks are commands, not timed tests: `make bench` runs each service's `bench/run.py`, which
uses these helpers and writes `bench/results/<name>.json` (req/s, p50, p99 per scenario).
wrk runs with a Lua script that rotates through the given bearer tokens and request bodies, and
reports its own latency percentiles as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from ds_common.testing.infra import Endpoints, local_endpoints
from ds_common.testing.kafka import start_group_at_end

ROOT = Path(__file__).resolve().parents[4]
RESULTS_DIR = ROOT / "bench" / "results"

# wrk prints its figures as one JSON line on stderr; other wrk scripts end with this too.
WRK_REPORT_LUA = """
function done(summary, latency, requests)
  io.stderr:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors_status": %d, "errors_connect": %d, ' ..
    '"errors_timeout": %d, "errors_read": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.timeout, summary.errors.read, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""

_WRK_SCRIPT = """
local requests = {}
local n = 0
function init(args)
  for line in io.lines(args[1]) do
    local method, path, headers, body = line:match("^(%S+)\\t(%S+)\\t([^\\t]*)\\t(.*)$")
    local h = {}
    for k, v in headers:gmatch("([^=;]+)=([^;]*)") do h[k] = v end
    if body == "" then body = nil end
    requests[#requests + 1] = wrk.format(method, path, h, body)
  end
end
function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end
""" + WRK_REPORT_LUA



@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: str = ""

    def line(self) -> str:
        headers = ";".join(f"{k}={v}" for k, v in self.headers.items())
        return f"{self.method}\t{self.path}\t{headers}\t{self.body}"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def wrk(base_url: str, requests: Sequence[Request], *, connections: int = 32, threads: int = 1,
        duration_s: int = 10, pause_ms: int = 0) -> dict[str, Any]:
    """Drive `requests` (rotating) at `base_url`; returns req/s, p50/p90/p99 and error counts.

    By default each connection sends as fast as answers come (the capacity). With `pause_ms`,
    each waits that long between an answer and its next request: a paced load, which gives the
    latency at a rate (about connections * 1000 / (pause_ms + latency) per second) rather than
    at saturation."""
    with tempfile.TemporaryDirectory() as tmp:
        script, lines = Path(tmp, "bench.lua"), Path(tmp, "requests.tsv")
        script.write_text(_WRK_SCRIPT + (f"function delay() return {pause_ms} end\n" if pause_ms else ""))
        lines.write_text("\n".join(r.line() for r in requests) + "\n")
        done = subprocess.run(
            [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--timeout", "5s",
             "-s", str(script), base_url, "--", str(lines)],
            capture_output=True, text=True, timeout=duration_s + 60, check=True)
    stats: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    stats["rps"] = round(stats["requests"] / (stats["duration_us"] / 1e6), 1)
    stats["connections"] = connections
    return stats


@contextlib.contextmanager
def service_process(module: str, role: str, port: int, env: Mapping[str, str], *,
                    workers: int = 1, ready_timeout_s: float = 60,
                    argv: Sequence[str] | None = None) -> Iterator[str]:
    """Run `python -m <module> <role>` (or `argv`) on loopback until the block exits; yields its URL."""
    args = list(argv) if argv else [sys.executable, "-m", module, role, "--port", str(port)]
    if workers > 1 and not argv:
        args += ["--workers", str(workers)]
    log = tempfile.NamedTemporaryFile(prefix=f"{module}-{role}-", suffix=".log", delete=False)  # noqa: SIM115
    # Its own process group, so a multi-worker API's workers stop with it.
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{module} {role} exited; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{module} {role} not ready in {ready_timeout_s}s; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@dataclass(frozen=True)
class ServiceEnv:
    """One benchmark run's settings for a service: `vars` for its processes, its `database`."""

    vars: dict[str, str]
    database: str
    endpoints: Endpoints


@contextlib.contextmanager
def fresh_service_env(service: str, *, jwks_url: str | None = None, **settings: str) -> Iterator[ServiceEnv]:
    """Settings for `service`'s processes against the local test infrastructure, with a database
    of its own (dropped afterwards), a consumer group of its own that starts at the current end of
    every topic (as a caught-up deployment would: replaying the shared topics' history would load
    the store during the measurement), WARNING logs and the test environment. `settings` are
    further settings by name without the prefix, e.g. `STRIPE_WEBHOOK_SECRET="..."`."""
    endpoints = local_endpoints()
    run_id = "".join(c for c in uuid.uuid4().hex if c.isalpha())[:8]
    database, group_suffix = f"{service}bench{run_id}", f"-bench-{run_id}"
    # Every service names its consumer group after itself.
    asyncio.run(start_group_at_end(endpoints.kafka_bootstrap, service + group_suffix))
    prefix = f"DS_{service.upper()}_"
    values = {"MONGO_URL": endpoints.mongo_url, "MONGO_DB": database, "REDIS_URL": endpoints.redis_url,
              "KAFKA_BOOTSTRAP": endpoints.kafka_bootstrap, "LOG_LEVEL": "WARNING", "ENVIRONMENT": "test",
              "CONSUMER_GROUP_SUFFIX": group_suffix, **({"JWKS_URL": jwks_url} if jwks_url else {}), **settings}
    try:
        yield ServiceEnv({prefix + name: value for name, value in values.items()}, database, endpoints)
    finally:
        client: MongoClient[dict[str, Any]]
        with MongoClient(endpoints.mongo_url, directConnection=True) as client:
            client.drop_database(database)


def write_results(name: str, results: Mapping[str, Any]) -> Path:
    """Write `bench/results/<name>.json` with the machine's facts, and print a short table."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    report = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "cpus": os.cpu_count(), "results": results}
    path.write_text(json.dumps(report, indent=2) + "\n")
    for scenario, stats in results.items():
        if isinstance(stats, Mapping) and "rps" in stats:
            print(f"{scenario:50s} {stats['rps']:>9.1f} req/s  p50 {stats['p50_ms']:.1f} ms  "
                  f"p99 {stats['p99_ms']:.1f} ms  errors {stats['errors_status']}")
    print(f"written to {path}")
    return path
