"""Helpers of the scale benchmark (tests/load/scale.py) and its smoke test: a generated catalogue
(deterministic SRT transcripts, YouTube-style ids), its upload through the gateway with the
upload-to-readable lag, learners created concurrently, and the machine's view of the system's
processes (CPU from /proc/<pid>/stat, resident memory from /proc/<pid>/status, the store on disk).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import infra  # scripts, not packages
import system

VIDEOS_PER_REQUEST = 40
VIDEOS_PER_CHANNEL = 40
LINES_PER_VIDEO = 300
CLK_TCK = os.sysconf("SC_CLK_TCK")
# What every catalogue point of bench/results/scale.json holds (the smoke test checks it).
SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("idle_cores", "idle_by_process", "endpoints", "upload", "rss_mb", "store_mb"),
    "endpoints": ("rps", "p50_ms", "p99_ms"),
    "upload": ("p50_s", "p99_s", "readable_lag_p50_s", "readable_lag_p99_s"),
}

_VOCABULARY = (
    "the a an and but so then when while because after before every morning evening night day week year "
    "people children teacher doctor farmer driver friend neighbour family city village river market station "
    "garden kitchen window street bridge country world water coffee bread music story letter picture question "
    "answer problem reason idea plan moment minute hour time road train bus car bicycle boat weather rain sun "
    "wind snow walk run talk listen look wait open close carry bring find keep leave start finish learn teach "
    "remember forget understand explain believe change follow help build grow cook read write watch play work "
    "quickly slowly quietly carefully really almost always never often sometimes usually together again still "
    "small large old young new early late long short warm cold happy tired busy simple different important "
    "we they she he I you it our their his her my your this that these those there here"
)
_WORDS = _VOCABULARY.split()


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def srt_text(video_id: str, lines: int = LINES_PER_VIDEO) -> bytes:
    """A deterministic SRT transcript: `lines` cues of spoken-looking sentences, about 60 characters
    each (25 to 100), timed at a speaking pace."""
    rng = random.Random(video_id)
    cues, at = [], 0.5
    for n in range(1, lines + 1):
        target = min(100, max(25, int(rng.gauss(60, 14))))
        words: list[str] = []
        while len(" ".join(words)) < target:
            words.append(rng.choice(_WORDS))
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + rng.choice("....?!")
        length = 0.8 + len(sentence) / 15
        cues.append(f"{n}\n{_stamp(at)} --> {_stamp(at + length)}\n{sentence}\n")
        at += length + rng.uniform(0.1, 0.6)
    return "\n".join(cues).encode()


@dataclass
class Catalogue:
    """The generated catalogue: channel k holds videos 40k..40k+39; ids unique per run (`tag`)."""

    tag: str
    channels: int = 0  # created so far
    videos: int = 0  # uploaded so far

    @classmethod
    def for_run(cls) -> Catalogue:
        return cls(base64.b32encode(hashlib.sha256(str(time.time_ns()).encode()).digest()).decode()[:6].lower())

    def channel_id(self, k: int) -> str:
        return f"scale-{self.tag}-{k:03d}"

    def video_id(self, i: int) -> str:
        """11 characters of [A-Za-z0-9_-], like a YouTube id."""
        return base64.urlsafe_b64encode(hashlib.sha256(f"{self.tag}:{i}".encode()).digest()).decode()[:11]

    def video(self, i: int) -> tuple[str, str]:
        return self.channel_id(i // VIDEOS_PER_CHANNEL), self.video_id(i)


@dataclass
class UploadStats:
    seconds: list[float] = field(default_factory=list)  # per upload request
    lags: list[float] = field(default_factory=list)  # per sampled video: upload answered → readable
    failures: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # sampled videos not readable in time

    def summary(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)
        return {"p50_s": r(percentile(self.seconds, 50)), "p99_s": r(percentile(self.seconds, 99)),
                "readable_lag_p50_s": r(percentile(self.lags, 50)), "readable_lag_p99_s": r(percentile(self.lags, 99)),
                "requests": len(self.seconds), "videos_sampled": len(self.lags) + len(self.unreadable),
                "unreadable": len(self.unreadable), "failures": self.failures[:5]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_channels(client: httpx.AsyncClient, token: str, catalogue: Catalogue, count: int) -> None:
    """Create channels up to `count` (200 per request, the API's batch limit)."""
    while catalogue.channels < count:
        batch = range(catalogue.channels, min(count, catalogue.channels + 200))
        r = await client.post("/service/channel", headers=bearer(token), json={"channels": [
            {"id": catalogue.channel_id(k), "name": f"Scale channel {k}", "language": "en", "visibility": "public",
             "image_url": f"https://img.youtube.com/vi/{catalogue.video_id(k * VIDEOS_PER_CHANNEL)}/0.jpg",
             "link": f"https://www.youtube.com/@{catalogue.channel_id(k)}"} for k in batch]})
        r.raise_for_status()
        catalogue.channels = batch.stop


async def readable_lags(client: httpx.AsyncClient, token: str, videos: Iterable[tuple[str, str]],
                        answered_at: float, *, interval_s: float = 0.05,
                        within_s: float = 60) -> tuple[list[float], list[str]]:
    """Poll each video's transcript as the admin until it answers 200: the seconds from
    `answered_at` (perf_counter) to that answer per video, and the videos not readable in time."""
    pending, lags = set(videos), []

    async def get(c: str, v: str) -> tuple[tuple[str, str], bool, float]:
        try:
            r = await client.get(f"/service/video-transcript/{c}/{v}", headers=bearer(token))
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        return (c, v), ok, time.perf_counter()

    while pending and time.perf_counter() - answered_at < within_s:
        for key, ok, at in await asyncio.gather(*(get(c, v) for c, v in sorted(pending))):
            if ok:
                lags.append(at - answered_at)
                pending.discard(key)
        if pending:
            await asyncio.sleep(interval_s)
    return lags, [f"{c}/{v}" for c, v in sorted(pending)]


async def upload(client: httpx.AsyncClient, token: str, catalogue: Catalogue, start: int, stop: int, stats: UploadStats,
                 *, sampled: bool, poll_interval_s: float = 0.05) -> None:
    """Upload videos [start, stop) in one request (all of one channel); when `sampled`, wait
    until each is readable and record the lags."""
    videos = [catalogue.video(i) for i in range(start, stop)]
    items = [{"channel_id": c, "video_link": f"https://www.youtube.com/watch?v={v}", "title": f"Scale video {i}",
              "visibility": "public"} for i, (c, v) in zip(range(start, stop), videos, strict=True)]
    files = [("transcript_files", (f"{v}.srt", srt_text(v), "application/x-subrip")) for _, v in videos]
    started = time.perf_counter()
    r = await client.post("/service/video-list", headers=bearer(token), data={"data": json.dumps(items)},
                          files=files, timeout=180)
    answered = time.perf_counter()
    stats.seconds.append(answered - started)
    if r.status_code != 200 or r.json().get("success_count") != len(items):
        stats.failures.append(f"videos {start}-{stop - 1}: {r.status_code} {r.text[:300]}")
    catalogue.videos = max(catalogue.videos, stop)
    if sampled:
        lags, unreadable = await readable_lags(client, token, videos, answered, interval_s=poll_interval_s)
        stats.lags += lags
        stats.unreadable += unreadable


# --- learners --------------------------------------------------------------------------------------
@dataclass
class Account:
    email: str
    access: str
    refresh: str
    signed_at: float = field(default_factory=time.monotonic)


async def bounded(concurrency: int, jobs: Iterable[Any]) -> list[Any]:
    """Await the coroutines `jobs`, at most `concurrency` at a time, in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Any) -> Any:
        async with gate:
            return await job
    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def register_learners(client: httpx.AsyncClient, count: int, *, concurrency: int = 16,
                            password: str = "load-test-password-1") -> list[Account]:
    """Register `count` learners (e-mail and password), `concurrency` at a time; the registration
    answers with the session's tokens, as a sign-in does."""
    run = int(time.time())

    async def one(i: int) -> Account:
        email = f"scale-{i}-{run}@load.test"
        r = await client.post("/auth/register", json={"username": f"scale{i}", "email": email, "password": password})
        r.raise_for_status()
        return Account(email, r.headers["x-ds-access-token"], r.headers["x-ds-refresh-token"])
    return await bounded(concurrency, (one(i) for i in range(count)))


async def refresh(client: httpx.AsyncClient, accounts: Sequence[Account], *, concurrency: int = 16) -> None:
    """New access tokens for every account (an access token lives an hour; a run can be longer)."""
    async def one(account: Account) -> None:
        r = await client.post("/auth/refresh-token", headers=bearer(account.refresh))
        r.raise_for_status()
        account.access, account.refresh = r.headers["x-ds-access-token"], r.headers["x-ds-refresh-token"]
        account.signed_at = time.monotonic()
    await bounded(concurrency, (one(a) for a in accounts))


# --- the machine's view of the system ------------------------------------------------------------
@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    ticks: int  # utime + stime
    started: int  # start time after boot (ticks): a pid reused meanwhile is another process


def processes() -> dict[int, Proc]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        found[int(entry.name)] = Proc(int(entry.name), int(rest[1]), comm, int(rest[11]) + int(rest[12]),
                                      int(rest[19]))
    return found


def _other_label(pid: int, comm: str) -> str:
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        argv = []
    if not argv:  # a kernel thread; workers rename themselves after their current work item
        return "kernel: " + (comm.split("/")[0] if comm.startswith("kworker") else comm)
    words = [Path(argv[0]).name]
    words += [Path(a).name for a in argv[1:] if not a.startswith("-")][:2]
    return "other: " + " ".join(words)[:48]


def labels(procs: Mapping[int, Proc], profile: str = "test") -> dict[int, str]:
    """Each pid's name: the system's processes (service roles, gateway, infrastructure) with their
    descendants (nginx workers), this benchmark's own process, anything else by its command line."""
    named: dict[int, str] = {os.getpid(): "benchmark client (this script)"}
    renamed = {"mongo": "ferretdb"}
    for server in [*infra.servers(profile), *system.processes(profile)]:
        pid = server.pid()
        if pid is not None:
            named[pid] = renamed.get(server.name, server.name)
    children: dict[int, list[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    for root, name in list(named.items()):
        stack = list(children.get(root, []))
        while stack:
            pid = stack.pop()
            named.setdefault(pid, name)
            stack += children.get(pid, [])
    return {pid: named.get(pid) or _other_label(pid, p.comm) for pid, p in procs.items()}


def system_labels(profile: str = "test") -> list[str]:
    renamed = {"mongo": "ferretdb"}
    return [renamed.get(s.name, s.name) for s in [*infra.servers(profile), *system.processes(profile)]]


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def idle_cpu(seconds: float, *, top: int = 20) -> tuple[float, dict[str, float]]:
    """Cores in use over `seconds`: machine-wide (/proc/stat busy share x CPUs) and per process
    name (utime + stime), the `top` names and the rest."""
    before, (total0, idle0), t0 = processes(), _cpu_times(), time.monotonic()
    time.sleep(seconds)
    after, (total1, idle1), elapsed = processes(), _cpu_times(), time.monotonic() - t0
    names = labels(after)
    by_name: dict[str, float] = {}
    for pid, p in after.items():
        # (a kernel worker renames itself after its current work: its name may differ between samples)
        start = before[pid].ticks if pid in before and before[pid].started == p.started else 0
        by_name[names[pid]] = by_name.get(names[pid], 0.0) + (p.ticks - start) / CLK_TCK / elapsed
    machine = (1 - (idle1 - idle0) / max(total1 - total0, 1)) * (os.cpu_count() or 1)
    ordered = sorted(by_name.items(), key=lambda kv: -kv[1])
    breakdown = {name: round(cores, 4) for name, cores in ordered[:top]}
    breakdown["(rest)"] = round(sum(cores for _, cores in ordered[top:]), 4)
    return round(machine, 4), breakdown


def rss_mb(profile: str = "test") -> dict[str, float]:
    """Resident memory (VmRSS) of each of the system's processes, with its descendants, in MB."""
    procs = processes()
    names, wanted, out = labels(procs, profile), set(system_labels(profile)), {}
    for pid, name in names.items():
        if name not in wanted:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        out[name] = out.get(name, 0.0) + kb / 1024
    return {name: round(out[name], 1) for name in system_labels(profile) if name in out}


def store_dir(profile: str = "test") -> Path:
    """FerretDB's state directory (its SQLite files: one database, one file with its WAL)."""
    ferret = next(s for s in infra.servers(profile) if isinstance(s, infra.FerretDB))
    return ferret.state / "ferretdb-data"


def store_mb(profile: str = "test", prefix: str = "e2e") -> float:
    """The system's databases on disk (the `e2e*` files of the test profile; WAL included)."""
    size = sum(f.stat().st_size for f in store_dir(profile).glob(f"{prefix}*") if f.is_file())
    return round(size / 1024 / 1024, 1)


def check_schema(point: Mapping[str, Any]) -> list[str]:
    """The keys a catalogue point lacks (empty when it has the whole schema)."""
    missing = [k for k in SCHEMA[""] if k not in point]
    missing += [f"upload.{k}" for k in SCHEMA["upload"] if k not in point.get("upload", {})]
    for name, stats in point.get("endpoints", {}).items():
        missing += [f"endpoints[{name}].{k}" for k in SCHEMA["endpoints"] if k not in stats]
    return missing
