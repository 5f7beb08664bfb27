"""What progress's routes share: the use cases of one API process (on `app.state.ctx`), and the
HTTP statuses of the domain's refusals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ds_common.errors import AppError, BadRequest, DomainError, Forbidden
from ds_common.ids import is_youtube_id
from ds_common.web import AppContext, ServiceContext

from ds_progress.domain.errors import InvalidInput, QuotaExceeded, TooManyWords
from ds_progress.service.progress import Progress
from ds_progress.service.quota import Quota
from ds_progress.service.statistics import Statistics
from ds_progress.service.words import MissedWords
from ds_progress.settings import Settings

ERRORS: dict[type[DomainError], type[AppError]] = {
    InvalidInput: BadRequest,
    QuotaExceeded: Forbidden,
    TooManyWords: BadRequest,
}


@dataclass
class Context(ServiceContext):
    """What one progress API process holds: its use cases."""

    settings: Settings
    progress: Progress
    quota: Quota
    statistics: Statistics
    words: MissedWords


Ctx = Annotated[Context, AppContext]


def video_ids(channel_id: object, video_id: object) -> tuple[str, str]:
    """A body's channel and video ids, checked ("Invalid channelId" / "Invalid videoId")."""
    for value, name in ((channel_id, "channelId"), (video_id, "videoId")):
        if not is_youtube_id(value):
            raise BadRequest(f"Invalid {name}")
    return str(channel_id), str(video_id)
