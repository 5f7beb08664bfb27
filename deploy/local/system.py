#!/usr/bin/env python3
"""Run the whole system on one machine without Docker: infrastructure, 5 services x 3 processes
(api, relay, consumer), transcripts' speech-to-text worker (stt) and the nginx gateway, each a
local process with its own log.

    system.py up     [--profile dev|test] [--replicas N] [--no-seed] [--detach]
                                           start, wait healthy, seed, print URLs; without --detach,
                                           Ctrl-C stops it all. --replicas: processes per role of each
                                           service (APIs behind the gateway, consumers in one group,
                                           relays with one active by lease)
    system.py down   [--profile dev|test]                          stop what this profile started
    system.py status [--profile dev|test]                          processes, health, logs

Profiles: `dev` (gateway 127.0.0.1:4001, APIs 8101-8105) for people, `test` (gateway 14001, APIs
18101-18105, on the test infrastructure) for the end-to-end tests, so both can run side by side.
Logs: .run/<profile>/logs/<process>.log. Ports: DS_GATEWAY_PORT, DS_SERVICES_BASE_PORT.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import infra  # a sibling script, not a package

ROOT = infra.ROOT
GATEWAY_DIR = ROOT / "deploy" / "gateway"
GATEWAY_SOURCE_ADDRESS = "127.0.0.2"
# Start order matters little (consumers retry), but auth first serves the JWKS the others fetch.
SERVICES = ["auth", "progress", "catalog", "transcripts", "billing"]
# Port offsets from the base, as each package's BASE_PORT (auth 8101 ... billing 8105).
PORT_OFFSET = {"auth": 0, "catalog": 1, "transcripts": 2, "progress": 3, "billing": 4}
ROLES = {"api": 0, "relay": 10, "consumer": 20}
SERVICE_ROLES = {"transcripts": {"stt": 5}}  # roles only some services have (5: between the others' ports)
REPLICA_STRIDE = 30  # replica r of a process listens on its port + 30 r (auth-api 8101, 8131, ...)
MAX_REPLICAS = 3
PROFILES = {
    "dev": {"gateway": 4001, "services": 8101, "rate": "100", "auth_rate": "120"},
    "test": {"gateway": 14001, "services": 18101, "rate": "100", "auth_rate": "600"},
}


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback)
            return bool(resp.status == 200)
    except OSError:
        return False


@dataclass
class ServiceProcess(infra.Server):
    service: str = ""
    role: str = ""
    startup_timeout = 90.0

    def command(self) -> list[str]:
        return [sys.executable, "-m", f"ds_{self.service}", self.role, "--port", str(self.port)]

    def healthy(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/readyz")


@dataclass
class Gateway(infra.Server):
    upstreams: dict[str, list[int]] = field(default_factory=dict)  # service -> its API replicas' ports
    rate: str = "100"
    auth_rate: str = "120"
    trusted_proxies: str = "192.0.2.0/32"  # nothing sits in front of the local gateway (TEST-NET: never matches)
    # Everything local shares 127.0.0.1, so the gateway reaches the services from an address of
    # its own on the loopback network, the only one they believe X-Forwarded-For from.
    source_address: str = GATEWAY_SOURCE_ADDRESS

    @property
    def home(self) -> Path:
        return self.state / "gateway"

    def install(self) -> None:
        if not Path("/usr/sbin/nginx").exists():
            infra.log("installing nginx (Debian package nginx-light)")
            infra.run(["apt-get", "update", "-q"])
            infra.run(["apt-get", "install", "-y", "-q", "nginx-light"])

    def prepare(self) -> None:
        """Render the shared template the way the nginx image does (envsubst of ${DS_*})."""
        for sub in ("tmp", "logs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        values = {
            "DS_GATEWAY_PORT": f"127.0.0.1:{self.port}",
            "DS_GATEWAY_RATE": self.rate,
            "DS_GATEWAY_AUTH_RATE": self.auth_rate,
            "DS_GATEWAY_TRUSTED_PROXIES": self.trusted_proxies,
            "DS_GATEWAY_SOURCE_ADDRESS": self.source_address,
            "DS_PUBLIC_ORIGIN": os.environ.get("DS_PUBLIC_ORIGIN", "https://www.dictationstudio.com"),
            # Several replicas: the template's one `server` line becomes several.
            **{f"DS_{name.upper()}_UPSTREAM": "; server ".join(f"127.0.0.1:{p}" for p in ports)
               for name, ports in self.upstreams.items()},
        }
        text = (GATEWAY_DIR / "gateway.conf.template").read_text()
        for key, value in values.items():
            text = text.replace("${" + key + "}", value)
        (self.home / "gateway.conf").write_text(text)
        (self.home / "ds_proxy.conf").write_text((GATEWAY_DIR / "ds_proxy.conf").read_text())
        tmp = self.home / "tmp"
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must write the temp dirs
        (self.home / "nginx.conf").write_text(
            f"{user}worker_processes auto;\npid {self.home}/nginx.pid;\nerror_log stderr warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  default_type application/octet-stream;\n"
            f"  client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n"
            f"  fastcgi_temp_path {tmp}/fastcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n"
            "  include gateway.conf;\n}\n")

    def command(self) -> list[str]:
        return ["/usr/sbin/nginx", "-p", str(self.home), "-c", "nginx.conf", "-g", "daemon off;"]

    def healthy(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/healthz")


def extra_env_file(profile: str) -> Path:
    return infra.state_dir(profile) / "extra-env.json"


def group_suffix_file(profile: str) -> Path:
    return infra.state_dir(profile) / "consumer-group-suffix"


def service_env(profile: str, base: int) -> dict[str, str]:
    env = {
        **infra.endpoints(profile),
        "DS_ENVIRONMENT": "dev" if profile == "dev" else "test",
        "DS_JWKS_URL": f"http://127.0.0.1:{base}/.well-known/jwks.json",
        "DS_TRANSCRIPTS_PROGRESS_URL": f"http://127.0.0.1:{base + PORT_OFFSET['progress']}",
        "DS_TRUSTED_PROXIES": f'["{GATEWAY_SOURCE_ADDRESS}"]',
        "PYTHONUNBUFFERED": "1",
    }
    if profile == "dev":
        env["DS_TRACE_SAMPLE_RATIO"] = "1"  # a developer wants to see every request's trace
    if profile == "test":  # end-to-end runs get their own databases beside the other tests'
        env.update({f"DS_{s.upper()}_MONGO_DB": f"e2e{s}" for s in SERVICES})
        # ...and fresh consumer groups that start at the end of the shared test topics, instead of
        # replaying every event the other test suites published.
        # One suffix per `up`, kept in the state directory: a process restarted later (the chaos
        # suite's kills) must rejoin its group, not start a new one at the end of the topics.
        stored = group_suffix_file(profile)
        suffix = stored.read_text() if stored.exists() else f"-e2e{int(time.time())}"
        env.update({"DS_CONSUMER_START": "latest", "DS_CONSUMER_GROUP_SUFFIX": suffix})
    return env


def replicas_file(profile: str) -> Path:
    return infra.state_dir(profile) / "replicas"


def processes(profile: str, extra_env: dict[str, str] | None = None, replicas: int | None = None) -> list[infra.Server]:
    """Every process of the profile; `extra_env` overrides settings (e.g. secrets of a test run;
    default: what the profile's last `up` was given, so a process started again gets them too);
    `replicas` per role (default: what the profile's last `up` used)."""
    if extra_env is None and extra_env_file(profile).exists():
        extra_env = json.loads(extra_env_file(profile).read_text())
    if replicas is None:
        stored = replicas_file(profile)
        replicas = int(stored.read_text()) if stored.exists() else 1
    ports = PROFILES[profile]
    base = int(os.environ.get("DS_SERVICES_BASE_PORT", ports["services"]))
    state = infra.state_dir(profile)
    gateway_port = int(os.environ.get("DS_GATEWAY_PORT", ports["gateway"]))
    env = {**service_env(profile, base),
           # ZPay (the local stand-in) calls billing back through the gateway, as the real one would.
           "DS_BILLING_ZPAY_NOTIFY_URL": f"http://127.0.0.1:{gateway_port}/dictation-studio/payment/zpay/notify",
           # auth's links to feedback images, for the browser
           "DS_AUTH_PUBLIC_BASE_URL": f"http://localhost:{gateway_port}/dictation-studio",
           **(extra_env or {})}
    settings = {**os.environ, **(extra_env or {})}
    found: list[infra.Server] = []
    for name in SERVICES:
        for role, offset in {**ROLES, **SERVICE_ROLES.get(name, {})}.items():
            for r in range(replicas):
                found.append(ServiceProcess(f"{name}-{role}" + (f"-{r + 1}" if r else ""),
                                            base + PORT_OFFSET[name] + offset + REPLICA_STRIDE * r, state, env,
                                            service=name, role=role))
    found.append(Gateway("gateway", gateway_port, state,
                         upstreams={name: [base + PORT_OFFSET[name] + REPLICA_STRIDE * r for r in range(replicas)]
                                    for name in SERVICES},
                         rate=settings.get("DS_GATEWAY_RATE", ports["rate"]),
                         auth_rate=settings.get("DS_GATEWAY_AUTH_RATE", ports["auth_rate"])))
    return found


def operator_env(profile: str) -> dict[str, str]:
    """The environment of an operator command (e.g. `python -m ds_auth create-account`) for this profile."""
    return {**os.environ, **processes(profile)[0].env}


def infra_to_start(profile: str) -> list[infra.Server]:
    """The infrastructure servers `up` will start (those not already running): they are its to stop."""
    return [s for s in infra.servers("dev" if profile == "dev" else "test") if not (s.pid() and s.healthy())]


def up(profile: str, extra_env: dict[str, str] | None = None, replicas: int = 1) -> list[infra.Server]:
    """Start everything (`replicas` processes per role of each service); returns the
    infrastructure servers this call started (to stop them later)."""
    if not 1 <= replicas <= MAX_REPLICAS:
        sys.exit(f"replicas: 1 to {MAX_REPLICAS}")
    started = time.monotonic()
    infra_profile = "dev" if profile == "dev" else "test"
    ours = infra_to_start(profile)
    for server in infra.servers(infra_profile):
        server.start()
    (infra.servers(infra_profile)[0].state / "endpoints.json").write_text(
        json.dumps(infra.endpoints(infra_profile), indent=2))
    replicas_file(profile).parent.mkdir(parents=True, exist_ok=True)
    replicas_file(profile).write_text(str(replicas))
    extra_env_file(profile).unlink(missing_ok=True)
    extra_env_file(profile).touch(mode=0o600)  # it may hold a test run's secrets
    extra_env_file(profile).write_text(json.dumps(extra_env or {}))
    running = any(isinstance(p, ServiceProcess) and p.pid() for p in processes(profile, extra_env, replicas))
    if profile != "dev" and not running:
        group_suffix_file(profile).write_text(f"-e2e{int(time.time())}")  # a fresh run: fresh groups
    procs = processes(profile, extra_env, replicas)
    auth_api = procs[0]  # the others fetch its JWKS at their first request, so start it first
    first = auth_api.spawn()
    if first is not None:
        auth_api.wait_healthy(first)
    spawned = [(p, p.spawn()) for p in procs[1:]]
    infra.log(f"started {len(procs)} processes; waiting until all are healthy")
    for proc, handle in spawned:
        if handle is not None:
            proc.wait_healthy(handle)
    infra.log(f"system ready in {time.monotonic() - started:.1f}s")
    return ours


def down(profile: str) -> None:
    for proc in reversed(processes(profile, replicas=MAX_REPLICAS)):  # whatever the last `up` ran
        proc.stop()


def status(profile: str) -> None:
    infra_profile = "dev" if profile == "dev" else "test"
    for server in [*infra.servers(infra_profile), *processes(profile)]:
        print(server.status())


def print_urls(profile: str) -> None:
    procs = processes(profile)
    gateway = procs[-1]
    print(f"\n  Gateway (point the front end here): http://localhost:{gateway.port}/dictation-studio")
    for proc in procs[:-1]:
        assert isinstance(proc, ServiceProcess)
        extra = "/docs (OpenAPI)  " if proc.role == "api" else ""
        print(f"  {proc.name:<22} http://127.0.0.1:{proc.port}{extra and '  ' + extra}/metrics /readyz")
    jaeger = next((s for s in infra.servers(profile) if s.name == "jaeger"), None)
    if jaeger is not None:
        print(f"  Traces (Jaeger; every request sampled): http://localhost:{jaeger.port}"
              f"   as a tree: python deploy/local/traces.py <trace id>  (the id is in every log line)")
    print(f"  Logs: {procs[0].state / 'logs'}   Status: make dev-status   Stop: Ctrl-C or make dev-down\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    parser.add_argument("--no-seed", action="store_true", help="skip the demo data")
    parser.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS") or 1),
                        help=f"processes per role of each service (1-{MAX_REPLICAS})")
    parser.add_argument("--detach", action="store_true", help="return once healthy; stop with `down`")
    args = parser.parse_args()
    if args.action == "down":
        down(args.profile)
        return
    if args.action == "status":
        status(args.profile)
        return
    # Ctrl-C (SIGINT) and SIGTERM, at any point, lead to one clean stop of what this run started;
    # signals arriving during that stop (a second Ctrl-C, or the one `uv run` forwards) are ignored.
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started_infra = infra_to_start(args.profile)
    try:
        up(args.profile, replicas=args.replicas)
        if not args.no_seed:
            import seed  # sibling script; needs the project's environment (httpx)

            seed.main(f"http://127.0.0.1:{processes(args.profile)[-1].port}/dictation-studio",
                      operator_env(args.profile))
        print_urls(args.profile)
        if args.detach:
            return
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    infra.log("stopping the services and the gateway")
    down(args.profile)
    for server in reversed(started_infra):
        server.stop()


if __name__ == "__main__":
    main()
