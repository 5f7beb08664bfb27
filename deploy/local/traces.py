#!/usr/bin/env python3
"""Print one trace from the local Jaeger (`make dev`) as a tree: each span's start after the
trace's first, its duration, its process and its name. A span that follows a link (a consumer's
batch) is listed under the span it links to.

    python deploy/local/traces.py <trace id>          (the trace_id of any log line)
    python deploy/local/traces.py --recent progress-api   the last 10 traces of a process

Standard library only; DS_JAEGER_URL overrides http://127.0.0.1:16686.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
import urllib.request
from typing import Any

JAEGER = os.environ.get("DS_JAEGER_URL", "http://127.0.0.1:16686")


def get(path: str) -> Any:
    with urllib.request.urlopen(f"{JAEGER}{path}", timeout=10) as reply:  # noqa: S310 (a local URL)
        return json.load(reply)["data"]


def print_tree(trace: dict[str, Any]) -> None:
    spans = {s["spanID"]: s for s in trace["spans"]}
    services = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans.values():
        parent = next((r["spanID"] for r in span.get("references", []) if r["spanID"] in spans), None)
        children.setdefault(parent, []).append(span)
    origin = min(s["startTime"] for s in spans.values())

    def show(span: dict[str, Any], depth: int) -> None:
        start_ms, took_ms = (span["startTime"] - origin) / 1000, span["duration"] / 1000
        print(f"{start_ms:10.1f} ms {took_ms:9.1f} ms  {'  ' * depth}{services[span['processID']]}: "
              f"{span['operationName']}")
        for child in sorted(children.get(span["spanID"], []), key=lambda s: s["startTime"]):
            show(child, depth + 1)

    print(f"trace {trace['traceID']}: {len(spans)} spans")
    for root in sorted(children.get(None, []), key=lambda s: s["startTime"]):
        show(root, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace_id", nargs="?")
    parser.add_argument("--recent", metavar="SERVICE", help="list the last 10 traces of a process")
    args = parser.parse_args()
    if args.recent:
        query = urllib.parse.urlencode({"service": args.recent, "limit": 10, "lookback": "1h"})
        for trace in get(f"/api/traces?{query}"):
            root = min(trace["spans"], key=lambda s: s["startTime"])
            print(f"{trace['traceID']}  {len(trace['spans']):3} spans  {root['operationName']}")
    elif args.trace_id:
        for trace in get(f"/api/traces/{args.trace_id}"):
            print_tree(trace)
    else:
        parser.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
