"""Which caption track to take (the legacy backend's rule), generalised to the video's language.

The first listed track whose language code starts with the preferred language (manual tracks are
listed before generated ones), otherwise the first track of any language; within the chosen code,
a manual track beats a generated one. With the preference "en" this is exactly the legacy rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class Track(Protocol):
    @property
    def language_code(self) -> str: ...

    @property
    def is_generated(self) -> bool: ...


T = TypeVar("T", bound=Track)


def choose_track(tracks: Sequence[T], preferred: str = "en") -> T | None:
    if not tracks:
        return None
    prefix = (preferred or "en").lower().split("-")[0]
    first = next((t for t in tracks if t.language_code.lower().startswith(prefix)), tracks[0])
    same_code = [t for t in tracks if t.language_code == first.language_code]
    return next((t for t in same_code if not t.is_generated), same_code[0])


def subtitle_preferences(language: str) -> list[str]:
    """yt-dlp `subtitleslangs` in order: the video's language, its variants, then English variants."""
    base = (language or "en").lower().split("-")[0]
    prefs = [base, f"{base}-.*"]
    if base != "en":
        prefs += ["en", "en-.*"]
    return prefs
