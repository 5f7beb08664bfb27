"""Speech-to-text: jobs, and the dictation lines made from recognised words.

A job is one document per video (`_id = "<channel_id>:<video_id>"`), changed only through the pure
decisions below (ds_common.versioned). States: `queued` → `running` → `done` | `failed` |
`cancelled`. A running job holds a lease its worker renews while it works (with the progress); a
worker that dies lets the lease lapse and the job is claimed again, up to `max_attempts` claims. A
retryable failure (timeout, audio not downloadable yet) goes back to `queued` with `due` later.
Every decision names the job (`job_id`) and, once running, the worker, so a worker that lost its
lease (or a cancelled job) can never write over the job's newer state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ds_common.errors import DomainError
from ds_common.events.contracts import SpeechToTextRequested
from ds_common.mongo import Document
from ds_common.versioned import Change

from ds_transcripts.domain.lines import Line, make_line

ACTIVE = ("queued", "running")
SOURCE = "speech_to_text"


class JobActive(DomainError):
    """The video is being transcribed already: 409."""


class NoActiveJob(DomainError):
    """Nothing to cancel: 409."""


class JobNotFound(DomainError):
    """No speech-to-text job for that video: 404."""


# --- the job ----------------------------------------------------------------------------------
def requested(doc: Document | None, *, channel_id: str, video_id: str, job_id: str, audio: Mapping[str, Any],
              model: str, requested_by: str, now: datetime, traceparent: str | None = None) -> Change:
    """A new job; `traceparent`: the request's trace, which every attempt's span continues."""
    if doc is not None and doc.get("status") in ACTIVE:
        raise JobActive(f"Video {video_id} is being transcribed already", job_status=doc["status"])
    return Change(set={"channel_id": channel_id, "video_id": video_id, "job_id": job_id, "status": "queued",
                       "audio": dict(audio), "model": model, "attempts": 0, "progress_s": 0.0, "duration_s": None,
                       "requested_by": requested_by, "requested_at": now, "due": now, "traceparent": traceparent},
                  unset=("reason", "worker", "lease_until", "started_at", "finished_at", "line_count"),
                  events=[SpeechToTextRequested(channel_id=channel_id, video_id=video_id, job_id=job_id)])


def _holds(doc: Document, job_id: str, worker: str) -> bool:
    return doc.get("job_id") == job_id and doc.get("status") == "running" and doc.get("worker") == worker


def claimed(doc: Document | None, *, job_id: str, worker: str, now: datetime, lease_s: float,
            max_attempts: int) -> Change | None:
    """Take the job if it is queued and due, or running under a lapsed lease (its worker died)."""
    if doc is None or doc.get("job_id") != job_id or doc.get("status") not in ACTIVE:
        return None
    if doc["status"] == "running" and doc["lease_until"] > now:
        return None
    if doc["status"] == "queued" and doc.get("due") is not None and doc["due"] > now:
        return None
    if int(doc.get("attempts", 0)) >= max_attempts:  # every claim so far died with its worker
        return Change(set={"status": "failed", "reason": "worker_lost", "finished_at": now},
                      unset=("worker", "lease_until", "due"))
    return Change(set={"status": "running", "worker": worker, "attempts": int(doc.get("attempts", 0)) + 1,
                       "lease_until": now + timedelta(seconds=lease_s), "started_at": now, "progress_s": 0.0},
                  unset=("due",))


def renewed(doc: Document | None, *, job_id: str, worker: str, now: datetime, lease_s: float,
            progress_s: float, duration_s: float | None) -> Change | None:
    """The worker is alive: extend its lease and record how far it got. None: the job is no
    longer this worker's (cancelled, or claimed again after a lapse), so it must stop."""
    if doc is None or not _holds(doc, job_id, worker):
        return None
    return Change(set={"lease_until": now + timedelta(seconds=lease_s), "progress_s": round(progress_s, 2),
                       "duration_s": None if duration_s is None else round(duration_s, 2)})


def finished(doc: Document | None, *, job_id: str, worker: str, now: datetime, line_count: int,
             duration_s: float | None) -> Change | None:
    if doc is None or not _holds(doc, job_id, worker):
        return None
    duration = round(duration_s, 2) if duration_s is not None else doc.get("duration_s")
    return Change(set={"status": "done", "finished_at": now, "line_count": line_count, "duration_s": duration,
                       "progress_s": duration or doc.get("progress_s", 0.0)},
                  unset=("worker", "lease_until", "reason"))


def failed(doc: Document | None, *, job_id: str, worker: str, now: datetime, reason: str, retryable: bool,
           max_attempts: int, backoff_s: float) -> Change | None:
    """A retryable failure is queued again after `backoff_s` * 2^(attempts-1), until `max_attempts`."""
    if doc is None or not _holds(doc, job_id, worker):
        return None
    attempts = int(doc.get("attempts", 1))
    if retryable and attempts < max_attempts:
        due = now + timedelta(seconds=backoff_s * 2 ** (attempts - 1))
        return Change(set={"status": "queued", "reason": reason, "due": due}, unset=("worker", "lease_until"))
    return Change(set={"status": "failed", "reason": reason, "finished_at": now}, unset=("worker", "lease_until"))


def cancelled(doc: Document | None, *, video_id: str, now: datetime) -> Change:
    if doc is None or doc.get("status") not in ACTIVE:
        raise NoActiveJob(f"No speech-to-text job of video {video_id} is queued or running")
    return Change(set={"status": "cancelled", "reason": "cancelled", "finished_at": now},
                  unset=("worker", "lease_until", "due"))


# --- words → dictation lines ------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str  # as recognised, with its leading space


_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*$")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014][\"')\]]*$")  # comma ... en and em dashes
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "etc.", "e.g.", "i.e.", "prof.", "jr.", "sr."})


def ends_sentence(word: Word) -> bool:
    text = word.text.strip()
    return bool(_SENTENCE_END.search(text)) and text.lower() not in _ABBREVIATIONS


def sentences(words: Sequence[Word], *, max_s: float = 12.0, max_words: int = 30,
              long_pause_s: float = 0.7) -> list[Line]:
    """One line per sentence, timed by its first and last word. A silence of `long_pause_s` or more
    inside a "sentence" also ends a line (Whisper now and then leaves out the full stops of a whole
    window), and a sentence longer than `max_s` seconds or `max_words` words is split at its
    natural pauses (see `_split`)."""
    lines: list[Line] = []
    current: list[Word] = []
    for word in words:
        if not word.text.strip():
            continue
        if current and word.start - current[-1].end >= long_pause_s:
            lines += _split(current, max_s, max_words)
            current = []
        current.append(word)
        if ends_sentence(word):
            lines += _split(current, max_s, max_words)
            current = []
    if current:
        lines += _split(current, max_s, max_words)
    return [line for line in lines if line["transcript"]]


def _split(words: Sequence[Word], max_s: float, max_words: int) -> list[Line]:
    """Split where the speaker paused longest (a clause end counts as a longer pause), keeping at
    least three words on each side when the sentence allows it, until every part fits."""
    if (words[-1].end - words[0].start <= max_s and len(words) <= max_words) or len(words) < 2:
        return [make_line(words[0].start, words[-1].end, "".join(w.text for w in words))]
    edge = 3 if len(words) >= 6 else 1

    def pause_before(i: int) -> float:
        return words[i].start - words[i - 1].end + (0.5 if _CLAUSE_END.search(words[i - 1].text.strip()) else 0.0)

    cut = max(range(edge, len(words) - edge + 1), key=lambda i: (pause_before(i), -abs(len(words) / 2 - i)))
    return _split(words[:cut], max_s, max_words) + _split(words[cut:], max_s, max_words)
