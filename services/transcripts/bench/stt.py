"""Speech-to-text figures per model setting → bench/results/stt.json (`make bench-stt`).

Audio: espeak-ng speaks varied English sentences with a 0.8 s pause after each, to 1 and 5 minutes
(16 kHz WAV), so the reference text and every sentence's span are known. Each setting runs in a
fresh process (the model loaded once, as in a worker; its peak resident memory is the process's)
and transcribes both files. Reported per setting: real-time factor (processing seconds per
second of audio) per length, peak RSS, word error rate, and the share of sentence boundaries the
lines put within 0.5 s of the pause. Other models: `--model NAME=PATH` (a CTranslate2 Whisper
directory), measured with the default options.

    uv run python services/transcripts/bench/stt.py [--model base=/models/whisper-base]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

from ds_common.testing.bench import RESULTS_DIR
from ds_common.testing.speech import speak, word_error_rate

SENTENCES = [
    "The weather was cold and grey this morning.", "My brother plays the guitar every evening.",
    "Could you open the window, please?", "We are going to the market on Saturday.",
    "She has lived in this city for ten years.", "The train to London leaves at half past eight.",
    "I forgot my umbrella, so I got very wet.", "Our teacher asked us to read the first chapter.",
    "Do you know where the nearest post office is?", "They built a small house near the river.",
    "Learning a language takes time and patience.", "He always drinks a cup of tea after lunch.",
    "The children were playing football in the park.", "Please turn off the lights when you leave.",
    "Why did you decide to study medicine?", "The museum is closed on Mondays and holidays.",
]
SETTINGS: dict[str, dict[str, Any]] = {  # the packaged tiny.en under the options a deployment may choose
    "whisper-tiny.en (default: int8, beam 5, 1 thread)": {},
    "whisper-tiny.en, 2 threads": {"cpu_threads": 2},
    "whisper-tiny.en, beam 1": {"beam_size": 1},
    "whisper-tiny.en, VAD": {"vad": True},
    "whisper-tiny.en, sampling fallback": {"sampling_fallback": True},
}
LENGTHS_S = {"1min": 60, "5min": 300}


def spoken(length_s: int, into: Path) -> dict[str, Any]:
    """A WAV of about `length_s` seconds, resampled to 16 kHz mono, with its reference."""
    repeat = 1
    while True:
        audio = speak(SENTENCES, pause_s=0.8, repeat=repeat)
        if audio.spans[-1][1] >= length_s:
            break
        repeat = max(repeat + 1, int(repeat * length_s / audio.spans[-1][1]) + 1)
    raw = into / f"{length_s}.raw.wav"
    raw.write_bytes(audio.wav)
    path = into / f"{length_s}.wav"
    _to_16k(raw, path)
    n = next(i for i, (_, end) in enumerate(audio.spans) if end >= length_s) + 1
    return {"path": str(path), "spans": audio.spans[:n], "sentences": audio.sentences[:n],
            "cut_s": audio.spans[n - 1][1]}


def _to_16k(source: Path, target: Path) -> None:
    import av  # faster-whisper's decoder, which resamples as the service does

    with av.open(str(source)) as inp, wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        for frame in inp.decode(audio=0):
            for chunk in resampler.resample(frame):
                out.writeframes(chunk.to_ndarray().tobytes())


def worker(options: dict[str, Any], model_path: str | None, files: list[dict[str, Any]]) -> dict[str, Any]:
    """In a fresh process: load once, transcribe every file (cut at its last full sentence)."""
    from ds_transcripts.adapters.whisper import WhisperTranscriber, default_model_path
    from ds_transcripts.domain.speech import sentences

    started = time.monotonic()
    transcriber = WhisperTranscriber(Path(model_path) if model_path else default_model_path(), **options)
    _ = transcriber.model
    out: dict[str, Any] = {"load_s": round(time.monotonic() - started, 2), "files": []}
    for audio in files:
        began = time.monotonic()
        found = transcriber.transcribe(Path(audio["path"]), language="en", on_progress=lambda *_: None,
                                       stop=threading.Event())
        out["files"].append({"seconds": time.monotonic() - began, "duration_s": found.duration_s,
                             "lines": sentences([w for w in found.words if w.end <= audio["cut_s"] + 0.3])})
    out["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def boundaries_ok(lines: list[dict[str, Any]], spans: list[tuple[float, float]]) -> float:
    """Share of the pauses between sentences that some line boundary falls into (±0.5 s)."""
    edges = [line["end"] for line in lines] + [line["start"] for line in lines]
    pauses = list(zip([end for _, end in spans[:-1]], [start for start, _ in spans[1:]], strict=True))
    hits = sum(1 for end, start in pauses if any(end - 0.5 <= e <= start + 0.5 for e in edges))
    return round(hits / max(len(pauses), 1), 3)


def measure(name: str, options: dict[str, Any], model_path: str | None, files: dict[str, dict[str, Any]]) -> dict:
    job = json.dumps([options, model_path, list(files.values())])
    run = subprocess.run([sys.executable, __file__, "--worker", job], check=True, capture_output=True, text=True)
    found = json.loads(run.stdout.strip().splitlines()[-1])
    figures: dict[str, Any] = {"rss_mb": found["rss_mb"], "load_s": found["load_s"]}
    wers = []
    for (label, audio), result in zip(files.items(), found["files"], strict=True):
        reference = " ".join(audio["sentences"])
        wer = word_error_rate(reference, " ".join(line["transcript"] for line in result["lines"]))
        wers.append(wer)
        figures[label] = {"audio_s": round(audio["cut_s"], 1),
                          "rtf": round(result["seconds"] / result["duration_s"], 4), "wer": round(wer, 4),
                          "lines": len(result["lines"]), "sentences": len(audio["sentences"]),
                          "boundaries_within_0_5s": boundaries_ok(result["lines"], audio["spans"])}
    figures["rtf"] = max(figures[label]["rtf"] for label in files)
    figures["wer"] = round(max(wers), 4)
    print(f"{name:48} rtf {figures['rtf']:.3f}  rss {figures['rss_mb']:.0f} MB  wer {figures['wer']:.3f}  "
          + "  ".join(f"{label}: lines {figures[label]['lines']}/{figures[label]['sentences']} "
                      f"boundaries {figures[label]['boundaries_within_0_5s']:.2f}" for label in files), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH of another CTranslate2 model")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*json.loads(args.worker))))
        return
    results: dict[str, Any] = {"machine": {"cpus": len(os.sched_getaffinity(0)),
                                           "processor": platform.processor() or platform.machine()},
                               "audio": "espeak-ng en-us, 150 wpm, 0.8 s pauses, 16 kHz", "models": {}}
    with tempfile.TemporaryDirectory(prefix="ds-bench-stt-") as tmp:
        files = {label: spoken(length, Path(tmp)) for label, length in LENGTHS_S.items()}
        variants = [(name, options, None) for name, options in SETTINGS.items()]
        variants += [(name, {}, path) for name, path in (m.split("=", 1) for m in args.model)]
        for name, options, path in variants:
            results["models"][name] = measure(name, options, path, files)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "stt.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS_DIR / 'stt.json'}")


if __name__ == "__main__":
    main()
