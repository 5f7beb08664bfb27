"""What auth's routes share: the Context of one API process (on `app.state.ctx`), its dependency
`Ctx`, the domain errors' statuses (`ERRORS`), and request-level helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ds_common.clock import Clock
from ds_common.errors import AppError, BadRequest, DomainError
from ds_common.web import AppContext, ServiceContext
from fastapi import Request

from ds_auth.adapters.keys import KeyRing
from ds_auth.adapters.sessions import SessionStore
from ds_auth.adapters.users import UserStore
from ds_auth.domain.feedback import InvalidFeedback, TooManyImages
from ds_auth.domain.users import InvalidEmail, NothingToUpdate
from ds_auth.service.accounts import Accounts
from ds_auth.service.feedback import Feedback
from ds_auth.service.signin import SignIn
from ds_auth.settings import Settings

ACCESS_HEADER = "x-ds-access-token"
REFRESH_HEADER = "x-ds-refresh-token"


ERRORS: dict[type[DomainError], type[AppError]] = {
    InvalidEmail: BadRequest,
    NothingToUpdate: BadRequest,
    InvalidFeedback: BadRequest,
    TooManyImages: BadRequest,
}


@dataclass
class Context(ServiceContext):
    """What one auth API process holds: its keys, stores and use cases."""

    settings: Settings
    clock: Clock
    keyring: KeyRing  # signs access tokens, publishes the JWKS
    users: UserStore
    sessions: SessionStore
    signin: SignIn  # sign-in, registration, refresh, logout
    accounts: Accounts  # user info, preferences, the admin's user list and roles
    feedback: Feedback


Ctx = Annotated[Context, AppContext]


def client_ip(request: Request) -> str:
    # X-Forwarded-For is resolved into client.host from the gateway's addresses only
    # (`trusted_proxies`, ds_common.web.create_app).
    return request.client.host if request.client else "unknown"
