"""Transcript lines: the legacy `{start, end, transcript}` item, times in seconds (2 decimals)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypedDict

_SPACES = re.compile(r"\s+")


class Line(TypedDict):
    start: float
    end: float
    transcript: str


def clean_text(text: str) -> str:
    """One line of text: newlines and runs of whitespace become single spaces."""
    return _SPACES.sub(" ", text).strip()


def make_line(start: float, end: float, text: str) -> Line:
    start = round(max(start, 0.0), 2)
    return {"start": start, "end": round(max(end, start), 2), "transcript": clean_text(text)}


def from_timed(items: Iterable[tuple[float, float, str]]) -> list[Line]:
    """(start, duration, text) triples as fetched from YouTube → lines; empty texts are dropped."""
    lines = [make_line(start, start + duration, text) for start, duration, text in items]
    return [line for line in lines if line["transcript"]]
