"""What every catalog route needs: the `Context` one API process holds (on `app.state.ctx`), its
dependency `Ctx`, the domain errors' statuses (`ERRORS`), and the small helpers of the hot routes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, get_args

from ds_common.errors import AppError, BadRequest, DomainError
from ds_common.web import AppContext, ServiceContext
from fastapi.responses import Response

from ds_catalog.domain.errors import (
    DuplicateChannelIds,
    InvalidApproval,
    InvalidTranscriptFile,
    LinkMismatch,
    NothingToUpdate,
)
from ds_catalog.service.analytics import Analytics
from ds_catalog.service.channels import Channels
from ds_catalog.service.submissions import Submissions
from ds_catalog.service.uploads import Uploads
from ds_catalog.service.videos import Videos
from ds_catalog.settings import Settings

ERRORS: Mapping[type[DomainError], type[AppError]] = {
    NothingToUpdate: BadRequest,
    DuplicateChannelIds: BadRequest,
    LinkMismatch: BadRequest,
    InvalidApproval: BadRequest,
    InvalidTranscriptFile: BadRequest,
}


@dataclass
class Context(ServiceContext):
    """What one catalog API process holds: its use cases."""

    settings: Settings
    channels: Channels
    videos: Videos
    uploads: Uploads
    submissions: Submissions
    analytics: Analytics


Ctx = Annotated[Context, AppContext]


def choice(found: Mapping[str, str], name: str, allowed: Any, default: str = "all") -> str:
    """A query parameter (as `FastQuery.read` found it) that must be one of the `allowed`
    Literal's values."""
    values: tuple[str, ...] = get_args(allowed)
    value = found.get(name, default)
    if value not in values:
        raise BadRequest(f"Invalid {name}: expected one of {', '.join(values)}")
    return value


def cached_json(body: bytes) -> Response:
    """A hot route's answer from the read cache, which keeps the JSON bytes themselves."""
    return Response(body, media_type="application/json")
