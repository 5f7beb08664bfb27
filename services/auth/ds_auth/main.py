"""The auth processes: `api_app` (HTTP), `relay_app` (outbox → Kafka), `consumer_app` (Kafka → effects)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator

from ds_common import service
from ds_common.auth import TokenVerifier
from ds_common.clock import Clock, SystemClock
from ds_common.redis import KeySpace
from ds_common.runtime import background
from ds_common.web import create_app
from fastapi import FastAPI

from ds_auth.adapters.feedback import FeedbackStore
from ds_auth.adapters.identity import IdentityVerifier
from ds_auth.adapters.keys import load_keyring
from ds_auth.adapters.limits import Limits
from ds_auth.adapters.passwords import Argon2Passwords
from ds_auth.adapters.sessions import SessionStore
from ds_auth.adapters.users import INDEXES, UserStore
from ds_auth.api import feedback, jwks, sessions, users
from ds_auth.api.deps import ACCESS_HEADER, ERRORS, REFRESH_HEADER, Context
from ds_auth.domain.feedback import ImageLinks
from ds_auth.domain.users import normalize_email
from ds_auth.messaging.handlers import handlers, purge_sessions_forever
from ds_auth.service.accounts import Accounts
from ds_auth.service.feedback import Feedback
from ds_auth.service.signin import SignIn
from ds_auth.settings import Settings

OUTBOX_COLLECTIONS = ["users", "sessions"]


def api_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service.api_stores(settings, app, INDEXES) as stores:
            keys = KeySpace(settings.service_name)
            keyring = await load_keyring(settings, stores.db)
            # Auth verifies its own access tokens with its in-process keys (same checks, no HTTP),
            # against the revocation table api_stores keeps current.
            revocations = app.state.verifier.revocations
            app.state.verifier = TokenVerifier(keyring, issuer=settings.jwt_issuer,  # type: ignore[arg-type]
                                               audience=settings.jwt_audience, revocations=revocations)
            session_store = SessionStore(
                stores.db, stores.redis, keys, clock, refresh_key=keyring.refresh_key,
                refresh_ttl_s=settings.refresh_token_ttl_s, max_age_s=settings.session_max_age_s,
                grace_s=settings.refresh_grace_s, access_ttl_s=settings.access_token_ttl_s,
                revocations=revocations, nudge=app.state.nudge, checkpoint_batch=settings.checkpoint_batch,
                checkpoint_every_s=settings.checkpoint_every_s)
            identity = IdentityVerifier.from_settings(settings)
            user_store = UserStore(stores.db, stores.redis, clock, app.state.nudge,
                                   admin_emails=frozenset(normalize_email(e) for e in settings.admin_emails),
                                   bootstrap_needs_proof=settings.environment == "production")
            limits = Limits(stores.redis, keys)
            threads = FeedbackStore(stores.db, clock, max_images=settings.feedback_max_stored_images,
                                    max_bytes=settings.feedback_max_stored_image_bytes)
            links = ImageLinks(ImageLinks.key_from(keyring.refresh_key), settings.public_base_url.rstrip("/"),
                               settings.feedback_image_link_ttl_s)
            app.state.ctx = Context(
                settings=settings, clock=clock, keyring=keyring, users=user_store, sessions=session_store,
                signin=SignIn(settings, users=user_store, sessions=session_store, identity=identity,
                              access_tokens=keyring, passwords=Argon2Passwords(), limits=limits, feedback=threads),
                accounts=Accounts(users=user_store, sessions=session_store),
                feedback=Feedback(settings, threads=threads, users=user_store, limits=limits, links=links,
                                  clock=clock))
            try:
                checkpoints = functools.partial(session_store.run_checkpoints,
                                                interval_s=settings.checkpoint_interval_s)
                async with background([checkpoints]):
                    yield
            finally:
                await identity.aclose()

    return create_app(settings, title="auth", lifespan=lifespan,
                      routers=[jwks.router, sessions.router, users.router, feedback.router],
                      expose_headers=[ACCESS_HEADER, REFRESH_HEADER], errors=ERRORS)


def relay_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return service.relay_app(settings, OUTBOX_COLLECTIONS, INDEXES)


def consumer_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return service.consumer_app(
        settings, group=settings.service_name, indexes=INDEXES,
        handlers_of=handlers,
        workers=lambda stores: [functools.partial(purge_sessions_forever, stores)])


PROCESSES = {"api": api_app, "relay": relay_app, "consumer": consumer_app}
