"""Generate the Grafana dashboard of the whole system from the metrics every process exports.

    uv run python deploy/grafana/dashboard.py          # rewrite deploy/grafana/dashboards/dictation-studio.json
    uv run python deploy/grafana/dashboard.py --check  # fail if the committed JSON is stale (tests do this)

Every process serves Prometheus metrics on /metrics (ds_common.web): HTTP latency and 5xx per
route, the outbox relays' published events, backlog and oldest pending age, the consumers'
handled, retried and dead-lettered events, transcripts' upstream fetches, and the standard
process CPU and memory. The panels below are written as (title, unit, PromQL) so the test suite
can check that every query names a metric the code really exports.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "dictation-studio.json"
RATE = "$__rate_interval"
SVC = 'service=~"$service"'
CLIENT_ERRORS = f'{SVC}, status=~"4.."'

# (row, [(title, unit, [(legend, expr)], kind)])
ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]], str]]]] = [
    ("HTTP (APIs; the gateway's own errors are in its log)", [
        ("Requests per second", "reqps", [
            ("{{service}}", f"sum by (service) (rate(http_request_duration_seconds_count{{{SVC}}}[{RATE}]))")],
         "timeseries"),
        ("p99 latency", "s", [
            ("{{service}}", "histogram_quantile(0.99, sum by (service, le) "
                            f"(rate(http_request_duration_seconds_bucket{{{SVC}}}[{RATE}])))")], "timeseries"),
        ("p50 latency", "s", [
            ("{{service}}", "histogram_quantile(0.5, sum by (service, le) "
                            f"(rate(http_request_duration_seconds_bucket{{{SVC}}}[{RATE}])))")], "timeseries"),
        ("5xx responses per second", "reqps", [
            ("{{service}} {{route}}", f"sum by (service, route) (rate(http_server_errors_total{{{SVC}}}[{RATE}]))")],
         "timeseries"),
        ("4xx responses per second", "reqps", [
            ("{{service}} {{status}}",
             f"sum by (service, status) (rate(http_request_duration_seconds_count{{{CLIENT_ERRORS}}}[{RATE}]))")],
         "timeseries"),
        ("Slowest routes (p99, last 5 min)", "s", [
            ("", "topk(10, histogram_quantile(0.99, sum by (service, method, route, le) "
                 f"(rate(http_request_duration_seconds_bucket{{{SVC}}}[5m]))))")], "table"),
    ]),
    ("Events (outbox relays and consumers)", [
        ("Events published per second", "ops", [
            ("{{service}}", f"sum by (service) (rate(outbox_events_published_total{{{SVC}}}[{RATE}]))")],
         "timeseries"),
        ("Oldest unpublished event (should stay under a few seconds)", "s", [
            ("{{service}}", f"max by (service) (outbox_oldest_pending_age_seconds{{{SVC}}})")], "timeseries"),
        ("Relay backlog and failed rounds", "short", [
            ("backlog {{service}}", f"sum by (service) (outbox_backlog_events{{{SVC}}})"),
            ("failed rounds/s {{service}}",
             f"sum by (service) (rate(outbox_publish_failures_total{{{SVC}}}[{RATE}]))")],
         "timeseries"),
        ("Events handled per second", "ops", [
            ("{{group}} {{type}}", f"sum by (group, type) (rate(consumer_events_handled_total[{RATE}]))")],
         "timeseries"),
        ("Handler retries and dead-lettered events", "short", [
            ("retries/s {{group}} {{type}}", f"sum by (group, type) (rate(consumer_event_retries_total[{RATE}]))"),
            ("dead-lettered (1 h) {{group}} {{topic}}",
             "sum by (group, topic) (increase(consumer_events_dead_lettered_total[1h]))")], "timeseries"),
        ("Transcript fetches from YouTube", "ops", [
            ("{{path}} {{outcome}}", f"sum by (path, outcome) (rate(transcripts_upstream_fetches_total[{RATE}]))")],
         "timeseries"),
    ]),
    ("Processes", [
        ("CPU (cores)", "short", [
            ("{{instance}}", f"sum by (instance) (rate(process_cpu_seconds_total[{RATE}]))")], "timeseries"),
        ("Resident memory", "bytes", [
            ("{{instance}}", "sum by (instance) (process_resident_memory_bytes)")], "timeseries"),
    ]),
]


def panel(panel_id: int, title: str, unit: str, targets: list[tuple[str, str]], kind: str,
          x: int, y: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": panel_id, "type": kind, "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend,
                     **({"format": "table", "instant": True} if kind == "table" else {})}
                    for i, (legend, expr) in enumerate(targets)],
    }
    if kind == "timeseries":
        out["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}}
    return out


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row_title, row_panels in ROWS:
        panels.append({"id": len(panels) + 1, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        y += 1
        for i, (title, unit, targets, kind) in enumerate(row_panels):
            panels.append(panel(len(panels) + 1, title, unit, targets, kind, x=12 * (i % 2), y=y + 8 * (i // 2)))
        y += 8 * ((len(row_panels) + 1) // 2)
    return {
        "uid": "dictation-studio", "title": "Dictation Studio", "tags": ["dictation-studio"],
        "timezone": "utc", "schemaVersion": 39, "version": 1, "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
            {"name": "service", "type": "query", "label": "Service", "includeAll": True, "multi": True,
             "allValue": ".*", "current": {"text": "All", "value": "$__all"},
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(http_request_duration_seconds_count, service)", "refId": "services"},
             "refresh": 2},
        ]},
        "panels": panels,
    }


def queries(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        if not OUT.exists() or OUT.read_text() != render():
            sys.exit("deploy/grafana/dashboards is stale: run `uv run python deploy/grafana/dashboard.py`")
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())


if __name__ == "__main__":
    main()
