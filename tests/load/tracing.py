"""What tracing costs: every journey endpoint through the gateway (as `make bench-load` measures
them) with tracing off (no exporter), then on at 0 %, 10 % and 100 % of new traces sampled, the
spans going to a local Jaeger. Writes bench/results/load-tracing.json: req/s and p99 per endpoint
and variant, and each variant's throughput relative to "off".

    make bench-tracing     (or: uv run python tests/load/tracing.py [--duration 8] [--rounds 3]
                                                       [--variants off,0,0.1,1])
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from ds_common.testing.bench import write_results
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import infra  # scripts, not packages
import run
import seed
import system
from journey import create_learners

JAEGER_PORT, OTLP_PORT = 26686, 24318  # beside `make dev`'s Jaeger


def variant_env(variant: str) -> dict[str, str]:
    if variant == "off":
        return {}
    return {"DS_OTEL_ENDPOINT": f"http://127.0.0.1:{OTLP_PORT}", "DS_TRACE_SAMPLE_RATIO": variant}


def measure_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    mongo = MongoClient(infra.endpoints("test")["DS_MONGO_URL"])
    system.down("test")
    for name in system.SERVICES:
        mongo.drop_database(f"e2e{name}")
    mongo.close()
    system.up("test", {**run.UNTHROTTLED, **variant_env(variant)})
    base_url = f"http://127.0.0.1:{system.processes('test')[-1].port}"
    try:
        seed.main(f"{base_url}/dictation-studio", system.operator_env("test"))
        learners = create_learners(f"{base_url}/dictation-studio", args.learners)
        with httpx.Client(base_url=f"{base_url}/dictation-studio", timeout=30) as client:
            for learner in learners:
                client.post("/user/register_dictation", json={"channelId": run.CHANNEL, "videoId": run.VIDEO},
                            headers={"Authorization": f"Bearer {learner.access}"}).raise_for_status()
        time.sleep(2)
        return {name: run.measure(base_url, requests, args.duration, args.connections, args.warmup)
                for name, requests in run.scenarios(learners).items()}
    finally:
        system.down("test")


def median_round(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median req/s (its p99 with it)."""
    return sorted(measured, key=lambda m: m["rps"])[len(measured) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="off,0,0.1,1", help="'off' (no exporter) or sample ratios")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--learners", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="each variant's endpoints: the median round")
    args = parser.parse_args()
    jaeger = infra.Jaeger(JAEGER_PORT, OTLP_PORT, Path(infra.ROOT / ".run" / "tracing-bench"))
    jaeger.state.mkdir(parents=True, exist_ok=True)
    jaeger.install()
    jaeger.start()
    rounds: dict[str, list[dict[str, Any]]] = {}
    try:
        # Variants alternate, round after round, and each endpoint's median round counts: one run
        # of a few seconds per variant differed by +-10 % from the next on this shared machine.
        for round_no in range(1, args.rounds + 1):
            for variant in args.variants.split(","):
                infra.log(f"tracing {variant}: measuring (round {round_no} of {args.rounds})")
                rounds.setdefault(variant, []).append(measure_variant(variant, args))
    finally:
        jaeger.stop()
    variants = {variant: {name: median_round([r[name] for r in measured]) for name in measured[0]}
                for variant, measured in rounds.items()}
    base = variants.get("off")
    summary = {}
    for variant, endpoints in variants.items():
        summary[variant] = {name: {"rps": s["rps"], "p99_ms": s["p99_ms"],
                                   **({"rps_vs_off": round(s["rps"] / base[name]["rps"], 3)} if base else {})}
                            for name, s in endpoints.items()}
        if base:
            ratios = [e["rps_vs_off"] for e in summary[variant].values()]
            summary[variant]["mean rps_vs_off"] = {"value": round(sum(ratios) / len(ratios), 3)}
    write_results("load-tracing", {"variants": summary, "raw": rounds, "run": vars(args)})
    for variant, endpoints in summary.items():
        mean = endpoints.pop("mean rps_vs_off", {}).get("value")  # printed last, not as an endpoint
        print(f"{variant:>5}: " + ", ".join(f"{n.split(' ', 1)[-1][:28]} {e['rps']}" for n, e in endpoints.items())
              + (f"; mean throughput vs off {mean}" if mean is not None else ""))


if __name__ == "__main__":
    main()
