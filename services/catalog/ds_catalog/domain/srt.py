"""SubRip parsing with the legacy rules, strict about what it cannot read.

Blocks are separated by blank lines; a block's second line is `HH:MM:SS,mmm --> HH:MM:SS,mmm`;
times become seconds rounded to 2 decimals; text lines are joined with spaces and whitespace is
collapsed; blocks with fewer than 3 lines are skipped. Unlike legacy, a block whose timing line
cannot be read, a cue that ends before it starts, undecodable bytes or a file with no cue at all
is an error, so an upload with a bad file is refused before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIMING = re.compile(
    r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d)[,.](\d{1,3})\s*-->\s*(\d{1,3}):([0-5]\d):([0-5]\d)[,.](\d{1,3})")
_BLANK_LINES = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"\s+")


class SrtError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    transcript: str

    def as_dict(self) -> dict[str, float | str]:
        return {"start": self.start, "end": self.end, "transcript": self.transcript}


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SrtError("the file is not UTF-8 text") from None


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def parse(text: str) -> list[Cue]:
    if "\x00" in text:
        raise SrtError("the file is not text")
    normalized = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    cues: list[Cue] = []
    for number, block in enumerate(_BLANK_LINES.split(normalized), start=1):
        lines = [line for line in block.split("\n") if line.strip()]
        if len(lines) < 3:
            continue
        timing = _TIMING.match(lines[1])
        if timing is None:
            raise SrtError(f"block {number} has no valid timing line")
        g = timing.groups()
        start, end = round(_seconds(*g[:4]), 2), round(_seconds(*g[4:]), 2)
        if end < start:
            raise SrtError(f"block {number} ends before it starts")
        words = _SPACES.sub(" ", " ".join(lines[2:])).strip()
        cues.append(Cue(start, end, words))
    if not cues:
        raise SrtError("no subtitle found")
    return cues
