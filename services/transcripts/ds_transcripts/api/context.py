"""What the routes need, built once per API process (see main.py) and kept on `app.state.ctx`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ds_common.errors import BadRequest
from fastapi import Request

from ds_transcripts.access import AccessControl
from ds_transcripts.adapters.store import FilterStore
from ds_transcripts.editing import Editor
from ds_transcripts.transcripts import Transcripts

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Context:
    transcripts: Transcripts
    editor: Editor
    access: AccessControl
    filters: FilterStore


async def ctx(request: Request) -> Context:  # async: no threadpool hop per request
    context: Context = request.app.state.ctx
    return context


def check_ids(*ids: str) -> None:
    """Channel and video ids are YouTube-style ids; anything else is refused before any lookup."""
    if not all(_ID.match(i) for i in ids):
        raise BadRequest("Invalid channel or video id")
