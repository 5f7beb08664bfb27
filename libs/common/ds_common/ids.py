"""YouTube channel and video ids as every service accepts them: letters, digits, `-` and `_`.
They become parts of Mongo ids and field names and of Redis keys, so nothing else is accepted."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import StringConstraints

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID = re.compile(ID_PATTERN)

YouTubeId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]  # a body field
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]  # a path parameter


def is_youtube_id(value: object) -> bool:
    return isinstance(value, str) and _ID.match(value) is not None
