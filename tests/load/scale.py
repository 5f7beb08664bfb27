"""Scale benchmark through the gateway: the system with the demo catalogue, then grown in place to
2,000 and 20,000 videos (channels of 40 videos with 300-line SRT transcripts, uploaded 40 videos a
request as the admin does), with 1,000 learners holding progress on 10 videos each. For each size:

- background CPU with no traffic (`idle_cores`: machine-wide busy share x CPUs, so everything on
  the machine counts; `idle_by_process`: utime + stime per process name, over the same window);
- req/s, p50, p99 of every endpoint of `make bench-load` at 64 connections (tests/load/run.py's
  `scenarios()` and `measure()`); the scenario's video is demo-stories/aaaaaaaaaa1 for the demo
  catalogue and the first generated video (every learner has progress on it) for the larger ones;
- upload time per 40-video request and the upload-to-readable lag (for every 10th request, each of
  its 40 transcripts polled as the admin until it answers 200);
- each process's resident memory (after the endpoints) and the store on disk (FerretDB's SQLite
  files of the system's databases, before the endpoints).

Writes bench/results/scale.json.

    make bench-scale       (or: uv run python tests/load/scale.py [--sizes demo,2000,20000] [--idle-seconds 120]
                                 [--duration 10] [--learners 1000] [--quick])

`--quick` is a smoke run: the demo catalogue and 80 videos, 20 learners, idle 10 s, 3 s per endpoint.
The full run takes tens of minutes (the 20,000-video load alone is 500 uploads of ~1.2 MB).
Learners get the Premium plan from the admin (`PUT /auth/user/plan`): a free learner may only start
4 videos per cycle. Starts the whole system in the `test` profile with fresh e2e databases and the
gateway's rate limits raised, as run.py does, and stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ds_common.testing.bench import write_results
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import infra  # scripts, not packages
import run  # the load benchmark: scenarios(), measure(), UNTHROTTLED
import scale_kit as kit
import seed
import system
from journey import Learner, auto_save_body

DEMO = "demo"
PROGRESS_PER_LEARNER = 10
RETRY_STATUS = {403, 404, 409, 429, 500, 502, 503, 504}
TARGETS = {"idle_cores_max": 0.05, "endpoint_rps_share_of_demo_min": 0.9, "endpoint_p99_ms_max": 100.0,
           "upload_p50_s_max": 1.0, "readable_lag_s_max": 2.0}


def log(msg: str) -> None:
    print(f"[scale] {msg}", flush=True)


@dataclass
class Run:
    base: str  # gateway URL with the /dictation-studio prefix
    gateway: str  # gateway URL
    env: dict[str, str]  # the operator command's settings
    args: argparse.Namespace
    catalogue: kit.Catalogue = field(default_factory=kit.Catalogue.for_run)
    accounts: list[kit.Account] = field(default_factory=list)
    progressed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    admin_email: str = ""
    admin_password: str = ""
    admin_access: str = ""
    admin_at: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=60, **kw)

    async def admin(self, client: httpx.AsyncClient) -> str:
        """The admin's access token, signed in again when it is half an hour old (it lives an hour)."""
        if not self.admin_access or time.monotonic() - self.admin_at > 1800:
            if not self.admin_password:
                self.admin_email = f"scale-admin-{self.catalogue.tag}@load.test"
                password = seed.create_account(self.env, self.admin_email, "ScaleAdmin", "Admin")
                assert password is not None, "the benchmark's admin existed already"
                self.admin_password = password
            r = await client.post("/auth/login", json={"email": self.admin_email, "password": self.admin_password})
            r.raise_for_status()
            self.admin_access, self.admin_at = r.headers["x-ds-access-token"], time.monotonic()
        return self.admin_access


def demo_videos() -> list[tuple[str, str]]:
    """What seed.main loads, the scenario's video first."""
    catalog = json.loads((seed.HERE / "catalog.json").read_text())
    videos = [(v["channel_id"], v["video_id"]) for v in catalog["videos"]]
    return sorted(videos, key=lambda cv: cv != (run.CHANNEL, run.VIDEO))


# --- setting up -----------------------------------------------------------------------------------
async def create_learners(r: Run, count: int) -> None:
    started = time.monotonic()
    async with r.client() as client:
        r.accounts = await kit.register_learners(client, count, concurrency=16)
        r.progressed = {a.email: [] for a in r.accounts}
        r.timings["learners_registered_s"] = round(time.monotonic() - started, 1)
        log(f"{count} learners registered in {r.timings['learners_registered_s']} s")
        # Premium, so each may start 10 videos (a free learner: 4 per cycle). Billing learns of the
        # accounts from auth's events: an e-mail it does not know yet is retried.
        started, pending = time.monotonic(), [a.email for a in r.accounts]
        while pending and time.monotonic() - started < 120:
            missing = []
            for i in range(0, len(pending), 100):
                resp = await client.put("/auth/user/plan", headers=kit.bearer(await r.admin(client)),
                                        json={"emails": pending[i:i + 100], "plan": "Premium", "duration": 365})
                resp.raise_for_status()
                missing += [x["email"] for x in resp.json()["results"] if not x["success"]]
            pending = missing
            if pending:
                await asyncio.sleep(1)
        if pending:
            log(f"WARNING: {len(pending)} learners did not get the plan (billing does not know them)")
        # ...and progress has to have heard of it (plan.changed) before a 5th video is saved.
        demo_c, demo_v = demo_videos()[0]

        deadline = time.monotonic() + 120

        async def paid(account: kit.Account) -> bool:
            while time.monotonic() < deadline:
                resp = await client.get("/user/dictation_quota", params={"channelId": demo_c, "videoId": demo_v},
                                        headers=kit.bearer(account.access))
                if resp.status_code == 200 and resp.json().get("limit") == -1:
                    return True
                await asyncio.sleep(0.5)
            return False
        unpaid = (await kit.bounded(16, (paid(a) for a in r.accounts))).count(False)
        r.timings["plan_granted_s"] = round(time.monotonic() - started, 1)
        log(f"Premium for the learners in {r.timings['plan_granted_s']} s"
            + (f"; {unpaid} still free" if unpaid else ""))


async def top_up_progress(r: Run, scenario: tuple[str, str], pool: list[tuple[str, str]]) -> dict[str, Any]:
    """Each learner's progress up to 10 videos: the scenario's video, then others from `pool`
    (deterministically spread); one autosave per video, 16 at a time."""
    jobs = []
    for j, account in enumerate(r.accounts):
        have = r.progressed[account.email]
        need = PROGRESS_PER_LEARNER - len(have)
        if need <= 0:
            continue
        picks = [] if scenario in have else [scenario]
        rng = random.Random(f"{r.catalogue.tag}:{j}:{len(pool)}")
        for cv in rng.sample(pool, min(len(pool), PROGRESS_PER_LEARNER * 2 + len(have))):
            if len(picks) >= need:
                break
            if cv not in have and cv not in picks:
                picks.append(cv)
        jobs += [(account, c, v) for c, v in picks]
    failures: list[str] = []
    started = time.monotonic()
    last_retry = started + 900  # bounded, whatever happens
    async with r.client() as client:
        async def save(account: kit.Account, c: str, v: str) -> None:
            # The video may not have reached progress's catalogue copy yet: retried for a minute.
            deadline = min(time.monotonic() + 60, last_retry)
            while True:
                resp = await client.post("/user/progress", json=auto_save_body(c, v),
                                         headers=kit.bearer(account.access))
                if resp.status_code == 200:
                    r.progressed[account.email].append((c, v))
                    return
                if resp.status_code not in RETRY_STATUS or time.monotonic() > deadline:
                    failures.append(f"{account.email} {c}/{v}: {resp.status_code} {resp.text[:200]}")
                    return
                await asyncio.sleep(0.5)
        await kit.bounded(16, (save(*job) for job in jobs))
    elapsed = round(time.monotonic() - started, 1)
    log(f"{len(jobs)} progress saves in {elapsed} s ({len(failures)} failed)"
        + (f": {failures[:2]}" if failures else ""))
    return {"saves": len(jobs), "seconds": elapsed, "failed": len(failures), "failures": failures[:5]}


async def grow(r: Run, videos: int) -> kit.UploadStats:
    """Upload generated videos until the catalogue holds `videos` of them, 40 a request; every
    `--sample-every`th request waits until its transcripts are readable (the lag)."""
    stats, cat = kit.UploadStats(), r.catalogue
    started = time.monotonic()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with r.client(limits=limits) as client:
        await kit.create_channels(client, await r.admin(client), cat, math.ceil(videos / kit.VIDEOS_PER_CHANNEL))
        for n, start in enumerate(range(cat.videos, videos, kit.VIDEOS_PER_REQUEST)):
            stop = min(start + kit.VIDEOS_PER_REQUEST, videos)
            await kit.upload(client, await r.admin(client), cat, start, stop, stats,
                             sampled=n % r.args.sample_every == 0, poll_interval_s=0.05)
            if (n + 1) % 25 == 0 or stop == videos:
                log(f"uploaded {stop}/{videos} videos in {time.monotonic() - started:.0f} s "
                    f"(last request {stats.seconds[-1]:.2f} s, {len(stats.failures)} failed)")
    return stats


# --- measuring ------------------------------------------------------------------------------------
@contextlib.contextmanager
def scenario_video(channel: str, video: str) -> Iterator[None]:
    """run.scenarios() reads its video from run.CHANNEL / run.VIDEO."""
    saved = run.CHANNEL, run.VIDEO
    run.CHANNEL, run.VIDEO = channel, video
    try:
        yield
    finally:
        run.CHANNEL, run.VIDEO = saved


def endpoint_figures(r: Run, scenario: tuple[str, str]) -> dict[str, dict[str, Any]]:
    if r.accounts and time.monotonic() - min(a.signed_at for a in r.accounts) > 1200:
        async def renew() -> None:
            async with r.client() as client:
                await kit.refresh(client, r.accounts)
        asyncio.run(renew())
        log("learners' access tokens renewed")
    with scenario_video(*scenario):
        scenarios = run.scenarios([Learner(a.email, a.access) for a in r.accounts])
    out = {}
    for name, requests in scenarios.items():
        stats = run.measure(r.gateway, requests, r.args.duration, r.args.connections, r.args.warmup)
        errors = sum(stats[k] for k in ("errors_status", "errors_connect", "errors_timeout", "errors_read"))
        out[name] = {"rps": stats["rps"], "p50_ms": round(stats["p50_ms"], 2), "p99_ms": round(stats["p99_ms"], 2),
                     "errors": errors, "settled_s": stats["settled_s"]}
        log(f"  {name:52s} {stats['rps']:8.1f} req/s  p50 {stats['p50_ms']:6.1f} ms  p99 {stats['p99_ms']:6.1f} ms"
            + (f"  errors {errors}" if errors else ""))
    return out


def measure_point(r: Run, size: str, scenario: tuple[str, str], upload: kit.UploadStats | None,
                  progress: dict[str, Any]) -> dict[str, Any]:
    settled = run.wait_until_quiet(limit_s=r.args.settle_limit, busy_below=0.15)
    log(f"{size}: settled in {settled} s; {r.args.idle_seconds} s without traffic")
    idle, by_process = kit.idle_cpu(r.args.idle_seconds)
    log(f"{size}: idle {idle:.3f} cores; " + ", ".join(f"{k} {v:.3f}" for k, v in list(by_process.items())[:5]))
    store = kit.store_mb()
    endpoints = endpoint_figures(r, scenario)
    return {"videos": len(demo_videos()) + r.catalogue.videos, "channels": 2 + r.catalogue.channels,
            "learners": len(r.accounts), "scenario": f"{scenario[0]}/{scenario[1]}",
            **catalogue_point(idle, by_process, endpoints, upload, kit.rss_mb(), store),
            "idle_settled_s": settled, "progress_setup": progress}


def catalogue_point(idle: float, by_process: dict[str, float], endpoints: dict[str, dict[str, Any]],
                    upload: kit.UploadStats | None, rss: dict[str, float], store: float) -> dict[str, Any]:
    """One catalogue's figures as bench/results/scale.json holds them (kit.SCHEMA)."""
    empty = {**dict.fromkeys(kit.SCHEMA["upload"]), "requests": 0}  # the demo point uploads nothing
    return {"idle_cores": idle, "idle_by_process": by_process, "endpoints": endpoints,
            "upload": upload.summary() if upload else empty, "rss_mb": rss, "store_mb": store}


def parse_sizes(text: str) -> list[str]:
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    numbers = [int(s) for s in sizes if s != DEMO]
    if any(n <= 0 for n in numbers) or numbers != sorted(set(numbers)) or (DEMO in sizes and sizes[0] != DEMO):
        raise SystemExit("--sizes: 'demo' first, then growing video counts, e.g. demo,2000,20000")
    return sizes


# --- the table --------------------------------------------------------------------------------------
def fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def targets(points: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The targets, judged at the largest catalogue measured (20,000 in the full run)."""
    largest = points[list(points)[-1]]
    demo = points.get(DEMO)
    up = largest["upload"]
    lags = [up["readable_lag_p50_s"], up["readable_lag_p99_s"]]
    verdict: dict[str, Any] = {
        "judged_at": list(points)[-1], **TARGETS,
        "idle_met": largest["idle_cores"] <= TARGETS["idle_cores_max"],
        "upload_met": None if up["p50_s"] is None else up["p50_s"] <= TARGETS["upload_p50_s_max"],
        "readable_lag_met": None if None in lags else max(lags) <= TARGETS["readable_lag_s_max"],
        "endpoints_met": {}}
    # The demo's scenario video has a short transcript in a 3-video channel, the generated ones 300
    # lines in 40-video channels: the first generated catalogue is the like-for-like reference too.
    generated = [size for size in points if size != DEMO]
    like = points[generated[0]] if len(generated) > 1 else None
    for name, stats in largest["endpoints"].items():
        share = stats["rps"] / demo["endpoints"][name]["rps"] if demo and demo is not largest else None
        verdict["endpoints_met"][name] = {
            "rps_share_of_demo": None if share is None else round(share, 3),
            **({f"rps_share_of_{generated[0]}": round(stats["rps"] / like["endpoints"][name]["rps"], 3)}
               if like else {}),
            "met": (share is None or share >= TARGETS["endpoint_rps_share_of_demo_min"])
            and stats["p99_ms"] <= TARGETS["endpoint_p99_ms_max"] and stats["errors"] == 0}
    return verdict


def print_table(points: dict[str, dict[str, Any]], verdict: dict[str, Any]) -> None:
    sizes, at = list(points), verdict["judged_at"]
    ok = {True: "ok", False: "MISSED", None: "n/a"}
    width = 54 + 24 * len(sizes)
    print("\n" + "=" * width)
    print(f"{'catalogue':54s}" + "".join(f"{s:>24s}" for s in sizes) + f"   targets (judged at {at})")
    print("-" * width)

    def row(label: str, values: list[str], target: str = "") -> None:
        print(f"{label:54s}" + "".join(f"{v:>24s}" for v in values) + (f"   {target}" if target else ""))

    row("videos / channels", [f"{p['videos']} / {p['channels']}" for p in points.values()])
    row("idle cores (whole machine)", [fmt(p["idle_cores"], ".3f") for p in points.values()],
        f"<= {TARGETS['idle_cores_max']}: {ok[verdict['idle_met']]}")
    row("upload s per 40-video request p50 / p99",
        [f"{fmt(p['upload']['p50_s'])} / {fmt(p['upload']['p99_s'])}" for p in points.values()],
        f"p50 <= {TARGETS['upload_p50_s_max']} s: {ok[verdict['upload_met']]}")
    row("upload-to-readable lag s p50 / p99",
        [f"{fmt(p['upload']['readable_lag_p50_s'])} / {fmt(p['upload']['readable_lag_p99_s'])}"
         for p in points.values()], f"<= {TARGETS['readable_lag_s_max']} s: {ok[verdict['readable_lag_met']]}")
    row("store MB (FerretDB files of the e2e databases)", [fmt(p["store_mb"], ".1f") for p in points.values()])
    row("RSS MB, all system processes", [fmt(sum(p["rss_mb"].values()), ".0f") for p in points.values()])
    print("-" * width)
    print("endpoints at 64 connections: req/s  p50 ms  p99 ms"
          f"   (targets: >= {TARGETS['endpoint_rps_share_of_demo_min']:.0%} of demo req/s, "
          f"p99 <= {TARGETS['endpoint_p99_ms_max']:.0f} ms, no errors)")
    for name in points[sizes[0]]["endpoints"]:
        values = []
        for p in points.values():
            s = p["endpoints"].get(name)
            values.append("—" if s is None else f"{s['rps']:.0f} {s['p50_ms']:.1f} {s['p99_ms']:.1f}"
                          + ("!" if s["errors"] else ""))
        v = verdict["endpoints_met"].get(name, {})
        shares = ", ".join(f"{value:.0%} of {key.removeprefix('rps_share_of_')}" for key, value in v.items()
                           if key.startswith("rps_share_of_") and value is not None)
        row(name[:54], values, f"{shares + ': ' if shares else ''}{ok[v.get('met')]}")
    print("-" * width)
    print("RSS MB per process")
    for proc in points[sizes[-1]]["rss_mb"]:
        row(f"  {proc}", [fmt(p["rss_mb"].get(proc), ".0f") for p in points.values()])
    print("idle cores per process (top 6 at each size)")
    for size, p in points.items():
        print(f"  {size:>6s}: " + ", ".join(f"{k} {v:.3f}" for k, v in list(p["idle_by_process"].items())[:6]))
    print("=" * width)
    print("scenario video: " + ", ".join(f"{s} {p['scenario']}" for s, p in points.items())
          + "  ('!' after a figure: the run had errors)")


# --- main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="demo,2000,20000", help="catalogue points: 'demo', then video counts")
    parser.add_argument("--idle-seconds", type=float, default=120)
    parser.add_argument("--duration", type=int, default=10, help="wrk seconds per endpoint")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured wrk seconds before each endpoint")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--sample-every", type=int, default=10, help="readable lag of every Nth upload request")
    parser.add_argument("--settle-limit", type=float, default=120,
                        help="longest wait for a quiet machine before the idle window (s)")
    parser.add_argument("--quick", action="store_true", help="smoke run: demo,80; 20 learners; idle 10 s; 3 s each")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.learners, args.idle_seconds, args.duration = "demo,80", 20, 10, 3
        args.sample_every, args.settle_limit = 1, 30
    sizes = parse_sizes(args.sizes)

    begun = time.monotonic()
    mongo = MongoClient(infra.endpoints("test")["DS_MONGO_URL"])
    system.down("test")
    for name in system.SERVICES:
        mongo.drop_database(f"e2e{name}")
    mongo.close()
    system.up("test", run.UNTHROTTLED)
    gateway = f"http://127.0.0.1:{system.processes('test')[-1].port}"
    r = Run(base=f"{gateway}/dictation-studio", gateway=gateway, env=system.operator_env("test"), args=args)
    points: dict[str, dict[str, Any]] = {}
    try:
        seed.main(r.base, r.env)
        asyncio.run(create_learners(r, args.learners))
        for size in sizes:
            started = time.monotonic()
            upload = None
            if size == DEMO:
                scenario, pool = (run.CHANNEL, run.VIDEO), demo_videos()
            else:
                log(f"{size}: loading the catalogue up to {size} generated videos")
                upload = asyncio.run(grow(r, int(size)))
                scenario, pool = r.catalogue.video(0), [r.catalogue.video(i) for i in range(r.catalogue.videos)]
            progress = asyncio.run(top_up_progress(r, scenario, pool))
            points[size] = measure_point(r, size, scenario, upload, progress)
            points[size]["point_s"] = round(time.monotonic() - started, 1)
            missing = kit.check_schema(points[size])
            assert not missing, missing
            log(f"{size}: done in {points[size]['point_s']} s")
            save(r, args, points, begun)  # after every point: a long run stopped early keeps what it measured
    finally:
        system.down("test")
    print_table(points, save(r, args, points, begun))
    log(f"total {r.timings['total_s']} s")


def save(r: Run, args: argparse.Namespace, points: dict[str, dict[str, Any]], begun: float) -> dict[str, Any]:
    verdict = targets(points)
    r.timings["total_s"] = round(time.monotonic() - begun, 1)
    write_results("scale", {"catalogues": points, "targets": verdict,
                            "run": {**vars(args), **r.timings,
                                    "videos_per_request": kit.VIDEOS_PER_REQUEST,
                                    "lines_per_video": kit.LINES_PER_VIDEO}})
    return verdict


if __name__ == "__main__":
    main()
