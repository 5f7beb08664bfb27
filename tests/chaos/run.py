"""`make chaos`: the whole system with two replicas of every process, a bounded learner load, and
every fault of tests/chaos/chaos.py one at a time; the table is printed and written to
bench/results/chaos.json. (`make test` runs a short version: tests/chaos/test_chaos.py.)

    uv run python tests/chaos/run.py [--learners 6] [--faults all|<substring>]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
import uuid
from pathlib import Path

import httpx
from ds_common.testing.bench import write_results
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import chaos
import infra
import seed
import system

SECRET = "whsec_" + secrets.token_hex(16)
ENV = {"DS_BILLING_STRIPE_WEBHOOK_SECRET": SECRET, "DS_LOG_LEVEL": "WARNING"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=6)
    parser.add_argument("--faults", default="all", help="all, or only the faults whose name contains this")
    args = parser.parse_args()
    faults = [f for f in chaos.all_faults() if args.faults == "all" or args.faults in f.name]
    mongo = MongoClient(infra.endpoints("test")["DS_MONGO_URL"])
    system.down("test")
    for name in system.SERVICES:
        mongo.drop_database(f"e2e{name}")
    mongo.close()
    started = time.monotonic()
    system.up("test", ENV, replicas=2)
    try:
        gateway = f"http://127.0.0.1:{system.processes('test')[-1].port}/dictation-studio"
        seed.main(gateway, system.operator_env("test"))
        email = f"chaos-admin-{uuid.uuid4().hex[:6]}@chaos.test"
        password = seed.create_account(system.operator_env("test"), email, "Chaos", "Admin")
        token = httpx.post(f"{gateway}/auth/login", json={"email": email, "password": password}).headers[
            "x-ds-access-token"]
        report = asyncio.run(chaos.run(gateway, webhook_secret=SECRET, admin_token=token, faults=faults,
                                       learners=args.learners))
    finally:
        system.down("test")
    report["seconds"] = round(time.monotonic() - started)
    print_table(report)
    write_results("chaos", report)


def print_table(report: dict) -> None:
    print(f"\n{'fault':<36} {'requests':>8}  {'errors':<28} {'recovery s':>10}  invariants")
    for row in report["faults"]:
        errors = ", ".join(f"{k}: {v}" for k, v in row["errors"].items()) or "-"
        held = "all held" if all(row["invariants"].values()) else \
            "FAILED: " + ", ".join(k for k, v in row["invariants"].items() if not v)
        print(f"{row['fault']:<36} {row['requests']:>8}  {errors:<28} {row['recovery_s']:>10}  {held}")
    final = report["final"]
    print(f"\nafter all faults: {'every invariant held' if all(final.values()) else final}\n")


if __name__ == "__main__":
    main()
