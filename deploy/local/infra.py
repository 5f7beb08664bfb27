#!/usr/bin/env python3
"""Install, start, check and stop the local infrastructure without Docker.

    infra.py up     [--profile dev|test]   install what is missing, start, wait until healthy
    infra.py down   [--profile dev|test]   stop exactly the processes this profile started
    infra.py status [--profile dev|test]   one line per server
    infra.py env    [--profile dev|test]   the endpoints as shell exports

Servers: Apache Kafka (KRaft, jars from Maven Central), FerretDB 1.24 (SQLite backend, built
through the Go module proxy), Redis (Debian package), stripe-mock (Go module proxy), the local
ZPay stand-in (zpay_server.py, beside this script) and, in the dev profile, Jaeger (the trace
viewer, built through the Go module proxy). The test profile also installs the tools the tests
use: Docker Compose's validator and espeak-ng (speech for the speech-to-text tests).
Downloads and builds are cached in $DS_CACHE_DIR (default ~/.cache/dictation-studio), so a
second `up` only starts processes. State, logs and pid files live in .run/<profile>/.
Every port can be overridden with DS_<NAME>_PORT (e.g. DS_KAFKA_PORT=19092).

Standard library only: it runs before the project's virtual environment exists.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Go's official install location, in case a non-login shell (CI) lacks it on PATH.
os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/go/bin"])
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("DS_CACHE_DIR", Path.home() / ".cache" / "dictation-studio"))

KAFKA_VERSION = "3.9.1"
FERRETDB_VERSION = "v1.24.2"
STRIPE_MOCK_VERSION = "v0.197.0"
COMPOSE_VERSION = "v5.6.0"
JAEGER_VERSION = "v1.75.0"  # deploy/local/jaeger/go.mod pins the same

# Two port sets, so the test stack runs beside a `make dev` stack.
PROFILE_PORTS = {
    "dev": {"kafka": 9092, "kafka_controller": 9093, "mongo": 27017, "redis": 6379, "stripe": 12111, "zpay": 12131,
            "jaeger": 16686, "otlp": 4318},
    "test": {"kafka": 29092, "kafka_controller": 29093, "mongo": 27027, "redis": 6389, "stripe": 12121,
             "zpay": 12141},
}


def log(msg: str) -> None:
    print(f"[infra] {msg}", flush=True)


def run(cmd: list[str], **kw: object) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def exiting(pid: int) -> bool:
    """True while `pid` is tearing down: its memory (and so its command line) is gone, but it is
    not yet a zombie, so it may still hold files (ports, a data directory's lock)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return not cmdline and state != "Z"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass
class Server:
    name: str
    port: int
    state: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log_file(self) -> Path:
        return self.state / "logs" / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.state / "pids" / f"{self.name}.pid"

    # -- to be provided by each server --------------------------------------------------
    def install(self) -> None: ...
    def command(self) -> list[str]: raise NotImplementedError
    def healthy(self) -> bool: raise NotImplementedError
    def prepare(self) -> None: ...
    startup_timeout = 60.0

    # -- shared mechanics ---------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid we started, if that process is still alive and is still ours."""
        try:
            pid_text, executable = self.pid_file.read_text().split("\n", 1)
            pid = int(pid_text)
            # first word of argv[0]: redis rewrites its process title to "path host:port"
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].split(b" ")[0].decode()
        except (OSError, ValueError):
            return None
        # nginx retitles itself "nginx: master process ...", redis "path host:port"
        return pid if Path(argv0).name.rstrip(":") == Path(executable).name else None

    def start(self) -> None:
        proc = self.spawn()
        if proc is not None and not self.wait_healthy(proc, may_exit=True):
            # Right after a stop the old process may still be letting go of something: once more.
            log(f"{self.name}: exited at start-up with {proc.returncode}; retrying once")
            time.sleep(2.0)
            if (proc := self.spawn()) is not None:
                self.wait_healthy(proc)

    def spawn(self) -> subprocess.Popen[bytes] | None:
        """Start the process unless ours is already running and healthy; does not wait."""
        if self.pid() is not None:
            if not self.healthy():  # ours, but busy or still starting: give it time
                self.wait_healthy(None)
            log(f"{self.name}: already running on 127.0.0.1:{self.port}")
            return None
        if port_open(self.port):
            sys.exit(f"[infra] {self.name}: port {self.port} is taken by another process; "
                     f"set DS_{self.name.upper()}_PORT to a free port")
        self.install()
        self.prepare()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.state, env={**os.environ, **self.env}, start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n{self.command()[0]}")
        return proc

    def wait_healthy(self, proc: subprocess.Popen[bytes] | None, *, may_exit: bool = False) -> bool:
        """Wait until healthy (True); if `proc` exits first: False when `may_exit`, else fail."""
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                if may_exit:
                    return False
                sys.exit(f"[infra] {self.name} exited with {proc.returncode}; see {self.log_file}")
            if proc is None and self.pid() is None:
                sys.exit(f"[infra] {self.name} exited; see {self.log_file}")
            if self.healthy():
                log(f"{self.name}: healthy on 127.0.0.1:{self.port} (log {self.log_file})")
                return True
            time.sleep(0.3)
        sys.exit(f"[infra] {self.name} not healthy after {self.startup_timeout:.0f}s; "
                 f"see {self.log_file}")

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.killpg(pid, signal.SIGTERM)
        for _ in range(200):
            if self.pid() is None:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        # A restart must wait until the old process has released its files, not just its pid.
        for _ in range(100):
            if not exiting(pid) and not any(port_open(p) for p in self.ports()):
                break
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        log(f"{self.name}: stopped (pid {pid})")

    def ports(self) -> list[int]:
        return [self.port]

    def status(self) -> str:
        pid = self.pid()
        health = "healthy" if pid and self.healthy() else "down"
        return f"{self.name:<12} {health:<8} 127.0.0.1:{self.port:<6} pid={pid or '-'}  log={self.log_file}"


def cluster_id() -> str:
    """A Kafka cluster id: a random UUID in unpadded URL-safe base64 (it may start with '-',
    so pass it as `--cluster-id=<id>`, never as a separate argument)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def require_go() -> None:
    if not shutil.which("go"):
        sys.exit("[infra] Go >= 1.24 is required to build FerretDB and stripe-mock")


def go_build(binary: Path, build: list[str], cwd: Path | None = None) -> None:
    if binary.exists():
        return
    require_go()
    binary.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {binary.name} (first run only; cached afterwards)")
    run(build, cwd=cwd, env={**os.environ, "CGO_ENABLED": "0"})


def compose_validator() -> Path:
    """Docker Compose's own validator (`docker-compose config` needs no engine), built once from the
    Go module proxy and cached: the tests check docker-compose.yml with it."""
    binary = CACHE / "bin" / f"docker-compose-{COMPOSE_VERSION}"
    if binary.exists():
        return binary
    require_go()
    module = CACHE / f"compose-{COMPOSE_VERSION}-module"
    module.mkdir(parents=True, exist_ok=True)
    log(f"building docker-compose {COMPOSE_VERSION} (first run only, about two minutes; cached afterwards)")
    env = {**os.environ, "CGO_ENABLED": "0"}
    if not (module / "go.mod").exists():
        run(["go", "mod", "init", "ds-compose-validator"], cwd=module, env=env)
    # `go install ...@version` is refused (compose's go.mod has exclude directives): a tool dependency.
    run(["go", "get", "-tool", f"github.com/docker/compose/v5/cmd@{COMPOSE_VERSION}"], cwd=module, env=env)
    binary.parent.mkdir(parents=True, exist_ok=True)
    run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "github.com/docker/compose/v5/cmd"],
        cwd=module, env=env)
    return binary


def speech_synthesizer() -> None:
    """espeak-ng (Debian package): the speech-to-text tests speak their own test sentences."""
    if shutil.which("espeak-ng"):
        return
    log("installing espeak-ng from Debian's packages (the speech-to-text tests' voice)")
    run(["apt-get", "update", "-qq"])
    run(["apt-get", "install", "-y", "-qq", "espeak-ng"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


class Kafka(Server):
    startup_timeout = 90.0

    def __init__(self, port: int, controller_port: int, state: Path) -> None:
        super().__init__("kafka", port, state)
        self.controller_port = controller_port
        self.libs = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
        self.env = {"KAFKA_HEAP_OPTS": "-Xmx512m"}

    def install(self) -> None:
        stamp = self.libs / ".complete"
        if stamp.exists():
            return
        if not shutil.which("mvn") or not shutil.which("java"):
            sys.exit("[infra] Java 17 and Maven are required to fetch Kafka from Maven Central")
        log(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central (first run only)")
        run(["mvn", "-q", "-B", "-f", str(HERE / "kafka" / "pom.xml"),
             f"-Dkafka.version={KAFKA_VERSION}", "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={self.libs}"])
        stamp.touch()

    def prepare(self) -> None:
        data = self.state / "kafka-data"
        props = self.state / "kafka.properties"
        props.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=3",
            "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
            # One small broker for one machine: fewer threads and rarer housekeeping, so it idles
            # near zero (its defaults are sized for a production node).
            "num.network.threads=2",
            "num.io.threads=2",
            "background.threads=2",
            "broker.heartbeat.interval.ms=5000",
            "broker.session.timeout.ms=30000",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=300000",
            "metadata.max.idle.interval.ms=30000",  # a no-op metadata record every 0.5 s by default
            "",
        ]))
        if not (data / "meta.properties").exists():
            data.mkdir(parents=True, exist_ok=True)
            run([*self.java("kafka.tools.StorageTool"), "format", f"--cluster-id={cluster_id()}",
                 "-c", str(props), "-g"], stdout=subprocess.DEVNULL)

    def ports(self) -> list[int]:
        return [self.port, self.controller_port]

    def java(self, main: str) -> list[str]:
        return ["java", "-Xmx512m", "-XX:+UseSerialGC", "-XX:-UsePerfData", "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{HERE / 'kafka' / 'log4j.properties'}",
                "-cp", f"{self.libs}/*", main]

    def command(self) -> list[str]:
        return [*self.java("kafka.Kafka"), str(self.state / "kafka.properties")]

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        # The start-up line scrolls out of a busy log, so remember which pid has logged it.
        pid, marker = self.pid(), self.state / "pids" / "kafka.ready"
        if pid is not None and marker.exists() and marker.read_text() == str(pid):
            return True
        try:
            started = b"Kafka Server started" in self.log_file.read_bytes()[-200_000:]
        except OSError:
            return False
        if started and pid is not None:
            marker.write_text(str(pid))
        return started


class FerretDB(Server):
    def __init__(self, port: int, state: Path) -> None:
        super().__init__("mongo", port, state)
        # The wrapper's own sources and patches are part of the name, so a change to them rebuilds it.
        self.sources = HERE / "ferretdb"
        files = [*sorted(self.sources.glob("*.go")), self.sources / "go.sum", self.sources / "patches.json"]
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:10]
        self.binary = CACHE / "bin" / f"ferretdb-{FERRETDB_VERSION}-{digest}"

    def install(self) -> None:
        if self.binary.exists():
            return
        require_go()
        modfile = self.patched_module(self.binary.with_name(self.binary.name + "-src"))
        go_build(self.binary, ["go", "build", "-trimpath", f"-modfile={modfile}", "-o", str(self.binary), "."],
                 cwd=self.sources)

    def patched_module(self, folder: Path) -> Path:
        """Copy FerretDB's module, apply ferretdb/patches.json, and return a go.mod that uses the copy."""
        spec = json.loads((self.sources / "patches.json").read_text())
        run(["go", "mod", "download", spec["module"]], cwd=self.sources)
        module_dir = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", spec["module"]], cwd=self.sources,
                                    check=True, capture_output=True, text=True).stdout.strip()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(module_dir, folder / "module", copy_function=shutil.copyfile)  # the cache is read-only
        for i, edit in enumerate(spec["edits"]):
            target = folder / "module" / edit["file"]
            text = target.read_text()
            if text.count(edit["old"]) != edit["count"]:
                sys.exit(f"[infra] FerretDB patch {i} no longer applies to {edit['file']}")
            target.write_text(text.replace(edit["old"], edit["new"]))
        modfile = folder / "go.mod"
        modfile.write_text((self.sources / "go.mod").read_text()
                           + f"\nreplace {spec['module']} => {folder / 'module'}\n")
        shutil.copyfile(self.sources / "go.sum", folder / "go.sum")
        return modfile

    def prepare(self) -> None:
        (self.state / "ferretdb-data").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [str(self.binary), f"-listen-addr=127.0.0.1:{self.port}",
                f"-sqlite-dir={self.state / 'ferretdb-data'}"]

    def healthy(self) -> bool:
        return port_open(self.port)


class Redis(Server):
    def __init__(self, port: int, state: Path) -> None:
        super().__init__("redis", port, state)

    def install(self) -> None:
        if shutil.which("redis-server"):
            return
        log("installing redis-server from Debian's packages")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", "redis-server"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})

    def command(self) -> list[str]:
        # Redis holds only ephemeral data here (rate limits, caches, revocations): no persistence.
        return [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.state), "--maxmemory-policy", "volatile-lru"]

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class StripeMock(Server):
    def __init__(self, port: int, state: Path) -> None:
        super().__init__("stripe", port, state)
        self.binary = CACHE / "bin" / f"stripe-mock-{STRIPE_MOCK_VERSION}"

    def install(self) -> None:
        gobin = CACHE / "gobin-stripe-mock"
        go_build(self.binary, ["sh", "-c",
                               f"GOBIN={gobin} go install github.com/stripe/stripe-mock@"
                               f"{STRIPE_MOCK_VERSION} && mv {gobin}/stripe-mock {self.binary}"])

    def command(self) -> list[str]:
        # Its HTTPS listener defaults to :12112 for every instance; give each its own port.
        return [str(self.binary), "-http-addr", f"127.0.0.1:{self.port}", "-https-addr", f"127.0.0.1:{self.port + 1}"]

    def healthy(self) -> bool:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/customers?limit=1",
                                     headers={"Authorization": "Bearer sk_test_123"})
        try:
            with urllib.request.urlopen(req, timeout=1) as resp:  # noqa: S310 (loopback)
                return bool(resp.status == 200)
        except OSError:
            return False


class Jaeger(Server):
    """The trace viewer of `make dev`: Jaeger v2 with in-memory storage, receiving OTLP/HTTP on
    `otlp_port`, its UI and query API on `port`. Built once from the Go module proxy (jaeger/go.mod).
    The proxy serves Jaeger's Go code but not its web UI's built assets (a separate JavaScript
    project), so Jaeger serves our own viewer page instead (jaeger/ui/index.html: recent traces,
    a trace by id, its spans as a timeline, from Jaeger's query API); `deploy/local/traces.py`
    prints a trace as a tree in a terminal."""

    def __init__(self, port: int, otlp_port: int, state: Path) -> None:
        super().__init__("jaeger", port, state)
        self.otlp_port = otlp_port
        self.sources = HERE / "jaeger"
        self.binary = CACHE / "bin" / f"jaeger-{JAEGER_VERSION}"

    def install(self) -> None:
        go_build(self.binary, ["go", "build", "-trimpath", "-o", str(self.binary),
                               "github.com/jaegertracing/jaeger/cmd/jaeger"], cwd=self.sources)

    def ports(self) -> list[int]:
        return [self.port, self.otlp_port, self.port + 1, self.port + 2]

    def prepare(self) -> None:
        config = (self.sources / "config.yaml").read_text()
        for name, value in {"UI_PORT": self.port, "QUERY_GRPC_PORT": self.port + 1, "HEALTH_PORT": self.port + 2,
                            "OTLP_PORT": self.otlp_port, "UI_ASSETS": (self.sources / "ui").resolve()}.items():
            config = config.replace(f"${{{name}}}", str(value))
        (self.state / "jaeger.yaml").write_text(config)

    def command(self) -> list[str]:
        return [str(self.binary), "--config", str((self.state / "jaeger.yaml").resolve())]

    def healthy(self) -> bool:
        return port_open(self.otlp_port) and port_open(self.port)


class ZPayStandIn(Server):
    """The local ZPay stand-in: the epay protocol billing speaks, with the merchant id and key that
    billing uses outside production by default."""

    def __init__(self, port: int, state: Path) -> None:
        super().__init__("zpay", port, state)

    def command(self) -> list[str]:
        return [sys.executable, str(HERE / "zpay_server.py"), "--port", str(self.port)]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False


def state_dir(profile: str) -> Path:
    """Where a profile keeps its state, logs and pid files."""
    return Path(os.environ.get("DS_STATE_DIR", ROOT / ".run" / profile))


def servers(profile: str) -> list[Server]:
    ports = {k: int(os.environ.get(f"DS_{k.upper()}_PORT", v)) for k, v in PROFILE_PORTS[profile].items()}
    state = state_dir(profile)
    state.mkdir(parents=True, exist_ok=True)
    return [
        Redis(ports["redis"], state),
        FerretDB(ports["mongo"], state),
        StripeMock(ports["stripe"], state),
        ZPayStandIn(ports["zpay"], state),
        Kafka(ports["kafka"], ports["kafka_controller"], state),
        *([Jaeger(ports["jaeger"], ports["otlp"], state)] if "jaeger" in ports else []),
    ]


def endpoints(profile: str) -> dict[str, str]:
    by_name = {s.name: s for s in servers(profile)}
    return {
        "DS_MONGO_URL": f"mongodb://127.0.0.1:{by_name['mongo'].port}/",
        "DS_REDIS_URL": f"redis://127.0.0.1:{by_name['redis'].port}/0",
        "DS_KAFKA_BOOTSTRAP": f"127.0.0.1:{by_name['kafka'].port}",
        "DS_STRIPE_API_BASE": f"http://127.0.0.1:{by_name['stripe'].port}",
        "DS_ZPAY_BASE_URL": f"http://127.0.0.1:{by_name['zpay'].port}",
        **({"DS_OTEL_ENDPOINT": f"http://127.0.0.1:{by_name['jaeger'].otlp_port}"}  # type: ignore[attr-defined]
           if "jaeger" in by_name else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "status", "env"])
    parser.add_argument("--profile", choices=sorted(PROFILE_PORTS), default=os.environ.get("DS_PROFILE", "dev"))
    args = parser.parse_args()
    started = time.monotonic()
    if args.action == "up":
        for server in servers(args.profile):
            server.start()
        if args.profile == "test":
            compose_validator()
            speech_synthesizer()
        state = servers(args.profile)[0].state
        (state / "endpoints.json").write_text(json.dumps(endpoints(args.profile), indent=2))
        log(f"{args.profile} infrastructure ready in {time.monotonic() - started:.1f}s")
    elif args.action == "down":
        for server in reversed(servers(args.profile)):
            server.stop()
    elif args.action == "status":
        for server in servers(args.profile):
            print(server.status())
    else:
        for key, value in endpoints(args.profile).items():
            print(f"export {key}={value}")


if __name__ == "__main__":
    main()
