"""The three processes of every service, assembled the same way everywhere.

- `api_stores(...)`: the API lifespan's stores plus the access-token verifier (with the session
  revocation hook) on `app.state`, so `CurrentUser`/`AdminUser` work in every route.
- `relay_app(...)`: outbox → Kafka, woken by the nudge writers give after a write.
- `consumer_app(...)`: Kafka → effects; every consumer also applies `session.revoked`, so a
  logout reaches every service's API through its own Redis key space within a second or so (each
  API process follows its revocation stream, so checking a token costs no Redis round trip).
- `run(...)`: `python -m ds_<service> api|relay|consumer [--host H] [--port P] [--workers N]` (and
  the roles a service adds, e.g. transcripts' `stt`).
  Each entry of `apps` is a module-level factory of `ds_<service>.main`, so uvicorn can start
  several API worker processes from its import string.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

from fastapi import FastAPI

from ds_common.auth import JwksCache, SessionRevocations, TokenVerifier
from ds_common.events.consumer import Batched, ConsumerRunner, EventHandler, Handlers, handlers
from ds_common.events.contracts import SessionRevoked
from ds_common.events.envelope import Envelope, EventData
from ds_common.events.kafka import KafkaPublisher
from ds_common.events.outbox import OutboxNudge, OutboxRelay
from ds_common.lease import Lease
from ds_common.mongo import IndexSpec
from ds_common.redis import KeySpace
from ds_common.runtime import Stores, Worker, background, open_stores, serve
from ds_common.settings import ServiceSettings
from ds_common.tracing import ROLE_ENV
from ds_common.web import Check, create_app

ROLE_PORT_OFFSET = {"api": 0, "relay": 10, "consumer": 20, "stt": 5}  # replicas of `make dev` use +30 each


def revocations_for(settings: ServiceSettings, stores: Stores) -> SessionRevocations:
    return SessionRevocations(stores.redis, KeySpace(settings.service_name))


def session_revoked_handler(revocations: SessionRevocations) -> EventHandler:
    async def handle(data: SessionRevoked, _: Envelope) -> None:
        await revocations.revoke(data.session_id, until=data.access_expires_at)

    return handle


@contextlib.asynccontextmanager
async def api_stores(settings: ServiceSettings, app: FastAPI,
                     indexes: Iterable[IndexSpec] = ()) -> AsyncIterator[Stores]:
    """Open the stores for an API lifespan and install the verifier; yields the stores."""
    async with open_stores(settings, app, indexes) as stores:
        jwks = JwksCache(settings.jwks_url)
        revocations = revocations_for(settings, stores)
        app.state.stores = stores
        app.state.verifier = TokenVerifier(jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                                           revocations=revocations)
        app.state.nudge = outbox_nudge(settings, stores)
        try:
            async with background([revocations.follow]):  # the per-request check then stays local
                yield stores
        finally:
            await jwks.aclose()


def outbox_nudge(settings: ServiceSettings, stores: Stores) -> OutboxNudge:
    """The nudge between a service's writers and its relay, scoped to its database: two
    deployments sharing a Redis (or tests beside `make dev`) must not take each other's nudges."""
    return OutboxNudge(stores.redis, f"{settings.service_name}:{stores.db.name}")


def relay_lease(settings: ServiceSettings, stores: Stores) -> Lease:
    """The lease that makes one relay of a service active however many run (a rolling update
    runs two; `kubectl scale` any number)."""
    return Lease(stores.redis, f"{settings.service_name}:{stores.db.name}:outbox:lease")


def relay_app(settings: ServiceSettings, collections: Sequence[str],
              indexes: Iterable[IndexSpec] = ()) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_stores(settings, app, indexes) as stores:
            publisher = KafkaPublisher(settings.kafka_bootstrap, client_id=f"{settings.service_name}-relay")
            relay = OutboxRelay(stores.db, collections, publisher, service=settings.service_name,
                                nudge=outbox_nudge(settings, stores), lease=relay_lease(settings, stores))
            app.state.relay = relay
            async with background([relay.run]):
                yield
            await publisher.close()

    return create_app(settings, title=f"{settings.service_name} relay", lifespan=lifespan)


HandlerFactory = Callable[[Stores], Handlers]
WorkerFactory = Callable[[Stores], Sequence[Worker]]


def consumer_app(settings: ServiceSettings, *, group: str, handlers_of: HandlerFactory,
                 indexes: Iterable[IndexSpec] = (), workers: WorkerFactory | None = None) -> FastAPI:
    """A consumer process: `handlers_of(stores)` maps event contracts to handlers; `workers` adds
    loops (e.g. a bounded fetch queue) that run beside the poll loop."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_stores(settings, app, indexes) as stores:
            registered: dict[type[EventData], EventHandler | Batched] = {
                SessionRevoked: session_revoked_handler(revocations_for(settings, stores)), **handlers_of(stores)}
            runner = ConsumerRunner(bootstrap=settings.kafka_bootstrap, group=group + settings.consumer_group_suffix,
                                    handlers=handlers(registered), auto_offset_reset=settings.consumer_start,
                                    client_id=f"{settings.service_name}-consumer")
            app.state.stores = stores
            app.state.consumer = runner
            app.state.ready_checks["partitions"] = Check(runner.check_assigned)
            async with background([runner.run, *(workers(stores) if workers else ())]):
                yield

    return create_app(settings, title=f"{settings.service_name} consumer", lifespan=lifespan)


def run(argv: Sequence[str] | None, *, service: str, base_port: int,
        apps: Mapping[str, Callable[[], FastAPI]]) -> None:
    """The command line of a service package: pick a process role and serve it."""
    parser = argparse.ArgumentParser(prog=f"python -m ds_{service}")
    parser.add_argument("role", choices=sorted(apps))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None,
                        help=f"default: {base_port} + {ROLE_PORT_OFFSET} by role")
    parser.add_argument("--workers", type=int, default=1, help="API processes (workers only run one)")
    args = parser.parse_args(argv)
    factory = apps[args.role]
    port = args.port if args.port is not None else base_port + ROLE_PORT_OFFSET[args.role]
    name = f"{service}-{args.role}"
    os.environ[ROLE_ENV] = args.role  # names the process in its traces (workers inherit it)
    if args.role == "api" and args.workers > 1:
        serve(f"{factory.__module__}:{factory.__name__}", host=args.host, port=port, service=name,
              workers=args.workers)
        return
    app = factory()
    serve(app, host=args.host, port=port, service=name, log_level=app.state.settings.log_level)
