"""Generate the kustomize base: per service an API (Deployment, Service, HPA, PDB) and two workers
(relay, consumer), transcripts' speech-to-text worker (stt, with its own HPA), the gateway, the
Ingress, and a Strimzi KafkaTopic per event contract.

    uv run python deploy/k8s/generate.py          # rewrite deploy/k8s/base
    uv run python deploy/k8s/generate.py --check  # fail if the committed base is stale (tests do this)

The base is generated rather than hand-written because the 16 service Deployments differ only in
their names and sizes; the overlays (dev, prod) are hand-written kustomize patches.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from ds_common.events import contracts  # registers every contract
from ds_common.events.registry import REGISTRY

BASE = Path(__file__).resolve().parent / "base"
SERVICES = ["auth", "catalog", "transcripts", "progress", "billing"]
IMAGE = "dictation-studio/backend"
PORT = 8000
KAFKA_CLUSTER = "dictation-studio"
JAEGER_IMAGE = "jaegertracing/jaeger:2.12.0"  # Jaeger v2 of the same release as the v1.75.0 `make dev` builds
TOPIC_PARTITIONS = 6
# Workers: relays run as a pair, one active by lease (ds_common.lease: the standby takes over within
# seconds when the active one dies; a rolling update is safe); consumers scale up to the partition count.
WORKER_REPLICAS = {"relay": 2, "consumer": 2}
API_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
WORKER_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
# Speech-to-text (transcripts only), sized from `make bench-stt`: a job keeps its one thread busy
# (DS_TRANSCRIPTS_STT_CPU_THREADS) and the packaged tiny.en peaks at ~0.4 GB resident whatever the
# audio's length; the HPA adds workers while they are busy (each takes jobs from the queue itself).
STT_RESOURCES = {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "dictation-studio",
            "app.kubernetes.io/component": component}


def probe(path: str, period: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": 3}


def deployment(service: str, role: str, replicas: int, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    name = f"{service}-{role}"
    args = ["python", "-m", f"ds_{service}", role, "--host", "0.0.0.0", "--port", str(PORT)]
    if role == "api":
        args += ["--workers", "2"]
    container = {
        "name": role,
        "image": IMAGE,
        "args": args,
        "ports": [{"name": "http", "containerPort": PORT}],
        "envFrom": [{"configMapRef": {"name": "backend-config"}},
                    {"secretRef": {"name": f"{service}-secrets", "optional": role != "api"}}],
        "readinessProbe": probe("/readyz", 5),
        "livenessProbe": {**probe("/livez", 10), "initialDelaySeconds": 10},
        "startupProbe": {**probe("/livez", 2), "failureThreshold": 30},
        "resources": resources or (API_RESOURCES if role == "api" else WORKER_RESOURCES),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (an emptyDir)
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels(name, role)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": labels(name, role),
                             "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT)}},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 30,
                         "volumes": [{"name": "tmp", "emptyDir": {}}]},
            },
        },
    }


def service(name: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels(name, "api")},
            "spec": {"selector": {"app.kubernetes.io/name": name},
                     "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def hpa(name: str, min_replicas: int, max_replicas: int) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": min_replicas, "maxReplicas": max_replicas,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}


def pdb(name: str) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}}}


def service_manifests(name: str) -> list[dict[str, Any]]:
    api = f"{name}-api"
    extra = [deployment(name, "stt", 1, STT_RESOURCES), hpa(f"{name}-stt", 1, 4)] if name == "transcripts" else []
    return [deployment(name, "api", 2), service(api, PORT), hpa(api, 2, 10), pdb(api),
            *(deployment(name, role, n) for role, n in WORKER_REPLICAS.items()), *extra]


def gateway_manifests() -> list[dict[str, Any]]:
    env = [{"name": "DS_GATEWAY_PORT", "value": "8080"},
           {"name": "DS_GATEWAY_RATE", "value": "100"},
           {"name": "DS_GATEWAY_AUTH_RATE", "value": "120"},
           {"name": "DS_GATEWAY_TRUSTED_PROXIES", "value": "10.0.0.0/8"},  # the Ingress controller's pods
           {"name": "DS_GATEWAY_SOURCE_ADDRESS", "value": "off"},  # the pod's own address
           {"name": "DS_PUBLIC_ORIGIN", "value": "https://www.dictationstudio.com"},
           *({"name": f"DS_{s.upper()}_UPSTREAM", "value": f"{s}-api:{PORT}"} for s in SERVICES)]
    health = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
    container = {
        "name": "nginx", "image": "nginx:1.27-alpine", "env": env,
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": health, "livenessProbe": {**health, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/nginx/templates/default.conf.template",
             "subPath": "gateway.conf.template"},
            {"name": "config", "mountPath": "/etc/nginx/ds_proxy.conf", "subPath": "ds_proxy.conf"}],
    }
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "gateway", "labels": labels("gateway", "gateway")},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}},
                 "template": {"metadata": {"labels": labels("gateway", "gateway")},
                              "spec": {"containers": [container],
                                       "volumes": [{"name": "config", "configMap": {"name": "gateway-config"}}]}}},
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "dictation-studio"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "api.example.invalid", "http": {"paths": [
            {"path": p, "pathType": "Prefix",
             "backend": {"service": {"name": "gateway", "port": {"number": 8080}}}}
            for p in ("/dictation-studio", "/ds")]}}]},
    }
    return [deploy, service("gateway", 8080), hpa("gateway", 2, 6), pdb("gateway"), ingress, api_network_policy()]


def api_network_policy() -> dict[str, Any]:
    """Only this system's pods (the gateway; auth's JWKS and progress's access answer for the other
    services) and Prometheus reach the APIs: what makes the services' belief in X-Forwarded-For
    from the pod network (DS_TRUSTED_PROXIES) safe. Kubelet probes come from the node, which
    network policies do not filter."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "api-ingress"},
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "dictation-studio",
                                                 "app.kubernetes.io/component": "api"}},
                 "policyTypes": ["Ingress"],
                 "ingress": [{"from": [
                     {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "dictation-studio"}}},
                     {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                     "ports": [{"port": "http"}]}]},
    }


def tracing_manifests() -> list[dict[str, Any]]:
    """Jaeger (its all-in-one default: OTLP in, traces in memory, UI on 16686) where every process
    sends its spans (DS_OTEL_ENDPOINT). Enough to look at traces; a production cluster points
    DS_OTEL_ENDPOINT at its own OpenTelemetry collector instead (an overlay patch)."""
    container = {
        "name": "jaeger", "image": JAEGER_IMAGE,
        "ports": [{"name": "otlp-http", "containerPort": 4318}, {"name": "ui", "containerPort": 16686},
                  {"name": "health", "containerPort": 13133}],
        "readinessProbe": {"httpGet": {"path": "/status", "port": "health"}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/status", "port": "health"}, "periodSeconds": 20},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
    }
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "jaeger", "labels": labels("jaeger", "tracing")},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "jaeger"}},
                 "template": {"metadata": {"labels": labels("jaeger", "tracing")},
                              "spec": {"containers": [container]}}},
    }
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "jaeger", "labels": labels("jaeger", "tracing")},
           "spec": {"selector": {"app.kubernetes.io/name": "jaeger"},
                    "ports": [{"name": "otlp-http", "port": 4318, "targetPort": "otlp-http"},
                              {"name": "ui", "port": 16686, "targetPort": "ui"}]}}
    return [deploy, svc]


def topic_manifests() -> list[dict[str, Any]]:
    assert contracts.__name__  # imported for its registrations
    topics = sorted({c.topic for c in REGISTRY})
    return [{"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
             "metadata": {"name": t.replace(".", "-"), "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
             "spec": {"topicName": t, "partitions": TOPIC_PARTITIONS, "replicas": 3,
                      "config": {"retention.ms": str(30 * 24 * 3600 * 1000), "min.insync.replicas": "2"}}}
            for t in topics]


def files() -> dict[str, str]:
    out = {f"{name}.yaml": dump(service_manifests(name)) for name in SERVICES}
    out["gateway.yaml"] = dump(gateway_manifests())
    out["kafka-topics.yaml"] = dump(topic_manifests())
    out["tracing.yaml"] = dump(tracing_manifests())
    return out


def dump(docs: list[dict[str, Any]]) -> str:
    header = "# Generated by deploy/k8s/generate.py; edit the generator, not this file.\n"
    return header + yaml.safe_dump_all(docs, sort_keys=False, width=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for name, text in files().items():
        path = BASE / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"deploy/k8s/base is stale ({', '.join(stale)}): run `uv run python deploy/k8s/generate.py`")


if __name__ == "__main__":
    main()
