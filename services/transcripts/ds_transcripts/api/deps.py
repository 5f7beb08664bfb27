"""What the routes need, built once per API process (main.py) and kept on `app.state.ctx`, and
the statuses of the domain's refusals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from ds_common.errors import AppError, BadRequest, Conflict, DomainError, Forbidden, NotFound
from ds_common.web import AppContext, ServiceContext

from ds_transcripts.domain.access import AccessRefused
from ds_transcripts.domain.speech import JobActive, JobNotFound, NoActiveJob
from ds_transcripts.domain.transcript import InvalidTranscriptIndex, TranscriptUnavailable, VideoNotFound
from ds_transcripts.service.access_control import AccessControl
from ds_transcripts.service.editing import Editor
from ds_transcripts.service.speech import NoAudioSource, SpeechJobs
from ds_transcripts.service.transcripts import Transcripts

ERRORS: dict[type[DomainError], type[AppError]] = {
    VideoNotFound: NotFound,
    TranscriptUnavailable: NotFound,
    InvalidTranscriptIndex: BadRequest,
    AccessRefused: Forbidden,
    JobActive: Conflict,
    NoActiveJob: Conflict,
    JobNotFound: NotFound,
    NoAudioSource: BadRequest,
}


@dataclass
class Context(ServiceContext):
    """What one transcripts API process holds: its use cases."""

    transcripts: Transcripts
    editor: Editor
    access: AccessControl
    speech: SpeechJobs


Ctx = Annotated[Context, AppContext]


def status_of(error: AppError | DomainError) -> int:
    """The status an error answers with (a batch reports it per video)."""
    if isinstance(error, AppError):
        return error.status
    for kind in type(error).__mro__:
        if kind in ERRORS:
            return ERRORS[kind].status
    return 500
