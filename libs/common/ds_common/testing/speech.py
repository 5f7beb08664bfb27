"""Spoken test audio: espeak-ng says each sentence, the clips are joined with known pauses, so a
test knows where every sentence starts and ends; and a word error rate to compare texts by."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass

SENTENCES = [
    "The weather was cold and grey this morning.",
    "My brother plays the guitar every evening.",
    "Could you open the window, please?",
    "We are going to the market on Saturday.",
]


@dataclass(frozen=True)
class Spoken:
    wav: bytes
    spans: list[tuple[float, float]]  # each sentence's clip, in seconds
    sentences: list[str]


def speak(sentences: list[str] = SENTENCES, *, pause_s: float = 1.0, repeat: int = 1) -> Spoken:
    """WAV bytes of the sentences (repeated `repeat` times), with `pause_s` of silence between clips."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is installed by `make infra-test`"
    clips = [subprocess.run([espeak, "-v", "en-us", "-s", "150", "--stdout", text], check=True,
                            capture_output=True).stdout for text in sentences]
    out, spans, said, at = io.BytesIO(), [], [], 0.0
    with wave.open(out, "wb") as target:
        for n in range(repeat * len(clips)):
            with wave.open(io.BytesIO(clips[n % len(clips)])) as clip:
                if n == 0:
                    target.setparams(clip.getparams())
                    rate, width = clip.getframerate(), clip.getsampwidth()
                frames = clip.readframes(clip.getnframes())
            target.writeframes(frames)
            length = len(frames) / (rate * width)
            spans.append((at, at + length))
            said.append(sentences[n % len(clips)])
            target.writeframes(b"\0" * int(pause_s * rate) * width)
            at += length + pause_s
    return Spoken(out.getvalue(), spans, said)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / max(len(ref), 1)
