"""What the routes need, built once per API process (main.py) and kept on `app.state.ctx`, and
the statuses of the domain's refusals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ds_common.errors import AppError, BadRequest, DomainError, Forbidden, NotFound
from fastapi import Depends, Request

from ds_transcripts.domain.access import AccessRefused
from ds_transcripts.domain.transcript import InvalidTranscriptIndex, TranscriptUnavailable, VideoNotFound
from ds_transcripts.service.access_control import AccessControl
from ds_transcripts.service.editing import Editor
from ds_transcripts.service.transcripts import Transcripts


@dataclass
class Context:
    transcripts: Transcripts
    editor: Editor
    access: AccessControl


def context_of(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


async def _context(request: Request) -> Context:  # async: no threadpool hop per request
    return context_of(request)


Ctx = Annotated[Context, Depends(_context)]

ERRORS: dict[type[DomainError], type[AppError]] = {
    VideoNotFound: NotFound,
    TranscriptUnavailable: NotFound,
    InvalidTranscriptIndex: BadRequest,
    AccessRefused: Forbidden,
}


def status_of(error: AppError | DomainError) -> int:
    """The status an error answers with (a batch reports it per video)."""
    if isinstance(error, AppError):
        return error.status
    for kind in type(error).__mro__:
        if kind in ERRORS:
            return ERRORS[kind].status
    return 500
