"""What every catalog route needs, installed on `app.state.ctx` by the API lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, get_args

import orjson
from ds_common.auth import Principal, current_principal
from ds_common.clock import Clock
from ds_common.errors import BadRequest, Unauthorized
from ds_common.events.envelope import Envelope, EventData, new_event
from ds_common.events.outbox import OutboxNudge
from ds_common.redis import RateLimiter
from fastapi import Depends, Request
from fastapi.responses import Response

from ds_catalog import SERVICE
from ds_catalog.adapters.cache import ReadCache
from ds_catalog.adapters.catalog_repo import CatalogRepo
from ds_catalog.adapters.submissions_repo import SubmissionsRepo
from ds_catalog.settings import Settings


@dataclass
class Ctx:
    settings: Settings
    catalog: CatalogRepo
    submissions: SubmissionsRepo
    cache: ReadCache
    nudge: OutboxNudge
    limiter: RateLimiter
    clock: Clock


async def _ctx(request: Request) -> Ctx:  # async: no threadpool hop per request
    return context_of(request)


async def viewer_of(request: Request) -> Principal | None:
    """The caller of a public route: a token that does not verify is treated as no token, so an
    expired session never hides the public catalog."""
    if "authorization" not in request.headers:
        return None
    try:
        return await current_principal(request)
    except Unauthorized:
        return None


def context_of(request: Request) -> Ctx:
    ctx: Ctx = request.app.state.ctx
    return ctx


def query_choice(request: Request, name: str, allowed: Any, default: str = "all") -> str:
    """A query parameter of a hot route that must be one of the `allowed` Literal's values."""
    value = request.query_params.get(name, default)
    if value not in get_args(allowed):
        raise BadRequest(f"Invalid {name}: expected one of {', '.join(get_args(allowed))}")
    return value


CatalogCtx = Annotated[Ctx, Depends(_ctx)]
Viewer = Annotated[Principal | None, Depends(viewer_of)]


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


def json_response(body: bytes, status_code: int = 200) -> Response:
    return Response(content=body, status_code=status_code, media_type="application/json")


def catalog_event(data: EventData, *, key: str, sequence: int) -> Envelope:
    return new_event(data, key=key, sequence=sequence, producer=SERVICE)
