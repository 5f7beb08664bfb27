"""What progress's routes share: the use cases of one API process (on `app.state.ctx`), and the
HTTP statuses of the domain's refusals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ds_common.errors import AppError, BadRequest, DomainError, Forbidden
from ds_common.ids import is_youtube_id
from fastapi import Depends, Request

from ds_progress.domain.errors import InvalidInput, QuotaExceeded, TooManyWords
from ds_progress.service.progress import Progress
from ds_progress.service.quota import Quota
from ds_progress.service.statistics import Statistics
from ds_progress.service.words import MissedWords
from ds_progress.settings import Settings

ERRORS: dict[type[DomainError], type[AppError]] = {
    InvalidInput: BadRequest, QuotaExceeded: Forbidden, TooManyWords: BadRequest}


@dataclass
class Context:
    settings: Settings
    progress: Progress
    quota: Quota
    statistics: Statistics
    words: MissedWords


def context_of(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


async def _context(request: Request) -> Context:  # async: no threadpool hop per request
    return context_of(request)


Ctx = Annotated[Context, Depends(_context)]


def video_ids(channel_id: object, video_id: object) -> tuple[str, str]:
    """A body's channel and video ids, checked ("Invalid channelId" / "Invalid videoId")."""
    for value, name in ((channel_id, "channelId"), (video_id, "videoId")):
        if not is_youtube_id(value):
            raise BadRequest(f"Invalid {name}")
    return str(channel_id), str(video_id)
