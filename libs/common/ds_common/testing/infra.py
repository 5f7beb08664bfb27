"""Where the real servers for integration tests are.

With a Docker engine, testcontainers starts Kafka, MongoDB and Redis (and stripe-mock) for the
session, beside the local ZPay stand-in (a script of deploy/local). Without one (this project's
machines), tests use the local servers that `make infra-test` started, found through DS_*
variables or `.run/test/endpoints.json`.
If neither is reachable, tests fail loudly rather than skip: CI must not pass on no tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Endpoints:
    mongo_url: str
    redis_url: str
    kafka_bootstrap: str
    stripe_api_base: str
    zpay_base_url: str


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _find_in_parents(relative: str) -> Path | None:
    for parent in [Path.cwd(), *Path.cwd().parents]:
        candidate = parent / relative
        if candidate.exists():
            return candidate
    return None


def local_endpoints() -> Endpoints:
    values: dict[str, str] = {}
    if (path := _find_in_parents(".run/test/endpoints.json")) is not None:
        values = json.loads(path.read_text())
    for name, value in os.environ.items():  # DS_TEST_MONGO_URL overrides DS_MONGO_URL, etc.
        if name.startswith("DS_TEST_"):
            values["DS_" + name.removeprefix("DS_TEST_")] = value
    try:
        endpoints = Endpoints(values["DS_MONGO_URL"], values["DS_REDIS_URL"], values["DS_KAFKA_BOOTSTRAP"],
                              values["DS_STRIPE_API_BASE"], values["DS_ZPAY_BASE_URL"])
    except KeyError as missing:
        raise RuntimeError(f"no test infrastructure: {missing} unknown; run `make infra-test`") from None
    for url in (endpoints.kafka_bootstrap, endpoints.mongo_url, endpoints.redis_url, endpoints.zpay_base_url):
        if not _reachable(*_host_port(url)):
            raise RuntimeError(f"test infrastructure not reachable at {url}; run `make infra-test`")
    return endpoints


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def _host_port(url: str) -> tuple[str, int]:
    hostport = url.split("://")[-1].split("/")[0].split(",")[0]
    host, _, port = hostport.rpartition(":")
    return host or "127.0.0.1", int(port)


@contextlib.contextmanager
def container_endpoints() -> Iterator[Endpoints]:  # pragma: no cover - needs a Docker engine
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.mongodb import MongoDbContainer
    from testcontainers.community.redis import RedisContainer
    from testcontainers.core.container import DockerContainer

    with KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as kafka, \
            MongoDbContainer("mongo:7") as mongo, RedisContainer("redis:7") as redis, \
            DockerContainer("stripe/stripe-mock:v0.197.0").with_exposed_ports(12111) as stripe, \
            zpay_stand_in() as zpay:
        yield Endpoints(
            mongo_url=mongo.get_connection_url(),
            redis_url=f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            kafka_bootstrap=kafka.get_bootstrap_server(),
            stripe_api_base=f"http://{stripe.get_container_host_ip()}:{stripe.get_exposed_port(12111)}",
            zpay_base_url=zpay,
        )


@contextlib.contextmanager
def zpay_stand_in() -> Iterator[str]:  # pragma: no cover - the container path
    """The local ZPay stand-in (deploy/local/zpay_server.py) on a free port, for this session."""
    script = _find_in_parents("deploy/local/zpay_server.py")
    if script is None:
        raise RuntimeError("deploy/local/zpay_server.py not found above the working directory")
    port = free_port()
    server = subprocess.Popen([sys.executable, str(script), "--port", str(port)])
    try:
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", port):
            if time.monotonic() > deadline:
                raise RuntimeError("the local ZPay stand-in did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@contextlib.contextmanager
def test_endpoints() -> Iterator[Endpoints]:
    """Containers where Docker runs, the local servers otherwise."""
    if os.environ.get("DS_TEST_USE_CONTAINERS", "auto") != "never" and docker_available():
        with container_endpoints() as endpoints:
            yield endpoints
    else:
        yield local_endpoints()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
