"""docker-compose.yml and the Kubernetes manifests, validated offline (no engine, no cluster here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["auth", "catalog", "transcripts", "progress", "billing"]
ROLES = ["api", "relay", "consumer"]
PROCESSES = [(s, r) for s in SERVICES for r in ROLES] + [("transcripts", "stt")]  # stt: speech-to-text
K8S_VERSION = "1.32"
CACHE = Path(os.environ.get("DS_CACHE_DIR", Path.home() / ".cache" / "dictation-studio"))


# --- docker-compose ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_every_process_of_every_service_from_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, role in PROCESSES:
        spec = services[f"{name}-{role}"]
        assert spec["image"] == "dictation-studio/backend:${DS_IMAGE_TAG:-latest}"
        assert spec["command"][:4] == ["python", "-m", f"ds_{name}", role]
        assert (ROOT / "services" / name / f"ds_{name}" / "__main__.py").exists()
    for infra in ["kafka", "kafka-init", "mongo", "redis", "gateway", "stripe-mock"]:
        assert infra in services


def test_every_compose_service_has_a_health_check_and_dependencies_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, spec in services.items():
        assert spec.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dep, condition in (spec.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert condition["condition"] in ("service_healthy", "service_completed_successfully")
    assert services["mongo"]["command"][:3] == ["mongod", "--replSet", "rs0"]  # single-node replica set
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft


def test_compose_env_files_exist_and_commit_no_secrets(compose: dict[str, Any]) -> None:
    for spec in compose["services"].values():
        for env_file in spec.get("env_file", []):
            path = ROOT / env_file["path"]
            assert path.exists() or env_file.get("required") is False
    common = (ROOT / "deploy/compose/common.env").read_text().lower()
    for word in ("secret=", "password=", "key=", "sk_live", "sk_test", "whsec_"):
        assert word not in common
    assert "deploy/compose/secrets/*.env" in (ROOT / ".gitignore").read_text()


def test_gateway_upstreams_point_at_compose_apis(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    template = (ROOT / "deploy/gateway/gateway.conf.template").read_text()
    for name in SERVICES:
        host, port = gateway["environment"][f"DS_{name.upper()}_UPSTREAM"].split(":")
        assert host in compose["services"] and port == "8000"
        assert f"${{DS_{name.upper()}_UPSTREAM}}" in template
    assert any("default.conf.template" in v for v in gateway["volumes"])
    # envsubst leaves an unset ${VAR} in place, which nginx rejects: every placeholder must be set
    for placeholder in set(re.findall(r"\$\{(DS_[A-Z_]+)\}", template)):
        assert placeholder in gateway["environment"], placeholder


# --- Kubernetes ---------------------------------------------------------------------------------
def kustomize_command() -> list[str]:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    binary = CACHE / "bin" / "kustomize-v5.5.0"
    if not binary.exists():  # through the Go module proxy, cached
        binary.parent.mkdir(parents=True, exist_ok=True)
        gobin = CACHE / "gobin"
        subprocess.run(["go", "install", "sigs.k8s.io/kustomize/kustomize/v5@v5.5.0"], check=True,
                       env={**os.environ, "GOBIN": str(gobin),
                            "PATH": os.environ["PATH"] + ":/usr/local/go/bin"}, timeout=900)
        (gobin / "kustomize").rename(binary)
    return [str(binary), "build"]


@pytest.fixture(scope="module", params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    out = subprocess.run([*kustomize_command(), str(ROOT / "deploy/k8s/overlays" / request.param)],
                         capture_output=True, text=True, check=True, timeout=600)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


KAFKA_TOPIC_SCHEMA = {  # the fields we use of Strimzi's KafkaTopic v1beta2 CRD
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "metadata": {"type": "object", "required": ["name", "labels"],
                     "properties": {"labels": {"type": "object", "required": ["strimzi.io/cluster"]}}},
        "spec": {"type": "object", "additionalProperties": False, "required": ["partitions", "replicas"],
                 "properties": {"topicName": {"type": "string"}, "partitions": {"type": "integer", "minimum": 1},
                                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                                "config": {"type": "object", "additionalProperties": {"type": "string"}}}},
    },
}


def test_every_manifest_is_valid_against_the_kubernetes_schemas(overlay: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in overlay}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress",
            "ConfigMap", "KafkaTopic", "Namespace"} <= kinds
    for doc in overlay:
        if doc["kind"] == "KafkaTopic":
            jsonschema.validate(doc, KAFKA_TOPIC_SCHEMA)
        else:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_every_process_has_probes_resources_and_secret_references(overlay: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"]: d for d in overlay if d["kind"] == "Deployment"}
    assert {f"{s}-{r}" for s, r in PROCESSES} | {"gateway", "jaeger"} == set(deployments)
    for name, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["readinessProbe"] and container["livenessProbe"], name
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            for env in container.get("env", []):
                assert "secret" not in env["name"].lower() or "valueFrom" in env, f"literal secret in {name}"
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in overlay if d["kind"] == "HorizontalPodAutoscaler"}
    assert {f"{s}-api" for s in SERVICES} | {"transcripts-stt"} <= hpas
    pdbs = {d["metadata"]["name"] for d in overlay if d["kind"] == "PodDisruptionBudget"}
    assert {f"{s}-api" for s in SERVICES} <= pdbs
    assert all(d["kind"] != "Secret" for d in overlay)  # secrets are referenced, never committed
    gateway_env = {e["name"] for e in deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    template = (ROOT / "deploy/gateway/gateway.conf.template").read_text()
    assert set(re.findall(r"\$\{(DS_[A-Z_]+)\}", template)) <= gateway_env  # envsubst leaves unset ones


def test_topics_cover_every_event_contract(overlay: list[dict[str, Any]]) -> None:
    from ds_common.events import contracts  # noqa: F401  (registers the contracts)
    from ds_common.events.registry import REGISTRY

    topics = {d["spec"]["topicName"] for d in overlay if d["kind"] == "KafkaTopic"}
    assert topics == {c.topic for c in REGISTRY}


def test_generated_base_and_gateway_copies_are_up_to_date() -> None:
    subprocess.run([sys.executable, str(ROOT / "deploy/k8s/generate.py"), "--check"], check=True)
    for name in ("gateway.conf.template", "ds_proxy.conf"):
        assert (ROOT / "deploy/k8s/base/gateway" / name).read_text() == (ROOT / "deploy/gateway" / name).read_text()


def service_secrets() -> dict[str, set[str]]:
    """Each service's secrets: the environment names of its settings' SecretStr fields."""
    from pydantic import SecretStr

    found = {}
    for name in SERVICES:
        settings = __import__(f"ds_{name}.settings", fromlist=["Settings"]).Settings
        prefix = settings.model_config["env_prefix"]
        found[name] = {prefix + field.upper() for field, info in settings.model_fields.items()
                       if info.annotation in (SecretStr, SecretStr | None)}
    return found


def test_each_services_secrets_example_lists_its_secrets() -> None:
    for name, secrets in service_secrets().items():
        example = ROOT / "deploy/compose/secrets" / f"{name}.env.example"
        if not secrets:
            assert not example.exists()
            continue
        lines = [line for line in example.read_text().splitlines() if "=" in line and not line.startswith("#")]
        assert secrets <= {line.split("=", 1)[0] for line in lines}, name
        assert all(line.endswith("=") for line in lines)  # nothing secret committed


# --- docker-compose, by Docker Compose's own validator (built from the Go module proxy, no engine) ---
@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker-compose config` of the file with every secrets file filled in (dummy values), all
    profiles; fails on any error or warning."""
    sys.path.insert(0, str(ROOT / "deploy" / "local"))
    import infra  # deploy/local holds scripts, not a package

    validator = infra.compose_validator()
    work = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "docker-compose.yml", work / "docker-compose.yml")
    shutil.copytree(ROOT / "deploy", work / "deploy", ignore=shutil.ignore_patterns("*.env"))
    shutil.copy(ROOT / "deploy/compose/common.env", work / "deploy/compose/common.env")
    for example in (ROOT / "deploy/compose/secrets").glob("*.env.example"):
        names = [line.split("=", 1)[0] for line in example.read_text().splitlines() if line.endswith("=")]
        owner = example.name.removesuffix(".env.example")
        (work / "deploy/compose/secrets" / f"{owner}.env").write_text(
            "".join(f"{n}=secret-of-{owner}\n" for n in names))
    for args in ([], ["--profile", "observability"]):
        quiet = subprocess.run([str(validator), *args, "config", "--quiet"], cwd=work, capture_output=True, text=True)
        assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    full = subprocess.run([str(validator), "--profile", "observability", "config", "--format", "json"], cwd=work,
                          capture_output=True, text=True, check=True)
    assert full.stderr == "", full.stderr
    config: dict[str, Any] = json.loads(full.stdout)
    return config


def test_every_process_gets_only_its_own_services_secrets(compose_config: dict[str, Any]) -> None:
    owners = {"zpay": "billing", "grafana": "grafana"}  # the ZPay stand-in knows the merchant key, as ZPay does
    for name, spec in compose_config["services"].items():
        secrets = {value.removeprefix("secret-of-") for value in (spec.get("environment") or {}).values()
                   if isinstance(value, str) and value.startswith("secret-of-")}
        owner = owners.get(name, name.split("-")[0])
        assert secrets <= {owner}, f"{name} receives the secrets of {secrets - {owner}}"
    for name, secrets in service_secrets().items():  # ...and each service does get its own
        for role in ROLES:
            assert secrets <= set(compose_config["services"][f"{name}-{role}"].get("environment") or {})


def test_compose_services_believe_forwarded_for_from_the_gateway_alone(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    gateway = services["gateway"]
    address = gateway["networks"]["default"]["ipv4_address"]
    assert gateway["environment"]["DS_GATEWAY_SOURCE_ADDRESS"] == "off"  # it connects from `address`
    for name in (f"{s}-{r}" for s, r in PROCESSES):
        assert json.loads(services[name]["environment"]["DS_TRUSTED_PROXIES"]) == [address], name
        assert not services[name].get("ports"), f"{name} is reachable around the gateway"


def test_kubernetes_services_believe_forwarded_for_from_their_own_pods_alone(overlay: list[dict[str, Any]]) -> None:
    config = next(d for d in overlay if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("backend-config"))
    assert json.loads(config["data"]["DS_TRUSTED_PROXIES"])
    policy = next(d for d in overlay if d["kind"] == "NetworkPolicy")
    selected = policy["spec"]["podSelector"]["matchLabels"]
    apis = [d for d in overlay if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-api")]
    assert apis and all(selected.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in apis)
    sources = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "dictation-studio"}}} in sources
    assert all("ipBlock" not in source for source in sources)  # the Ingress controller goes through the gateway


# --- observability ------------------------------------------------------------------------------
def exported_metric_names() -> set[str]:
    """Every series name the processes export: our metrics (imported from the code that defines
    them) and prometheus_client's standard process metrics."""
    import ds_common.events.consumer
    import ds_common.events.outbox
    import ds_common.web
    import ds_transcripts.adapters.fetcher
    from prometheus_client import REGISTRY

    assert ds_common.web and ds_common.events.consumer and ds_common.events.outbox and ds_transcripts.adapters.fetcher
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    return {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes.get(family.type, [""])}


def test_the_dashboard_is_generated_and_queries_only_exported_metrics() -> None:
    import json

    subprocess.run([sys.executable, str(ROOT / "deploy/grafana/dashboard.py"), "--check"], check=True)
    board = json.loads((ROOT / "deploy/grafana/dashboards/dictation-studio.json").read_text())
    assert (ROOT / "deploy/k8s/base/grafana/dictation-studio.json").read_text() == \
        (ROOT / "deploy/grafana/dashboards/dictation-studio.json").read_text()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    exported = exported_metric_names()
    queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 12
    # What is left of a query without its strings, variables, ranges, functions and label names.
    not_metrics = {"sum", "max", "by", "rate", "increase", "histogram_quantile", "topk", "le", "status", "service",
                   "route", "method", "group", "type", "topic", "path", "outcome", "instance"}
    for query in queries:
        bare = re.sub(r'"[^"]*"|\$\w+|\[[^\]]*\]', "", query)
        metrics = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", bare)) - not_metrics
        assert len(metrics) == 1 and metrics <= exported, (query, metrics - exported)


def test_compose_observability_scrapes_every_process(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{name}-{role}:8000" for name, role in PROCESSES}
    assert all(t.split(":")[0] in services for t in targets)
    for mount in services["grafana"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), source
