"""Speech-to-text: the lines made from words, the job's rules, and whole jobs on real infrastructure.

The integration tests speak their own sentences with espeak-ng (known pauses between them), ask
through the admin route, and let the relay, Kafka and the `stt` worker (real Whisper, the
packaged tiny.en) do the rest; failure paths: refused uploads, corrupt audio, a job past its time
budget, cancellation, and a worker process killed mid-job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from ds_common.events.kafka import ensure_topics
from ds_common.events.registry import REGISTRY
from ds_common.testing.fixtures import unique
from ds_common.testing.infra import Endpoints
from ds_common.testing.jwks import TestIssuer
from ds_common.testing.kafka import start_group_at_end
from ds_common.testing.kit import eventually
from ds_common.testing.speech import SENTENCES, speak, word_error_rate
from ds_common.tracing import context_of, span_in
from ds_transcripts.adapters.audio import AudioNotFetched, download_audio
from ds_transcripts.domain import speech
from ds_transcripts.domain.speech import Word, sentences
from ds_transcripts.main import relay_app, stt_app
from ds_transcripts.settings import Settings
from opentelemetry.trace import SpanKind
from test_transcripts_events import read_keyed
from transcripts_helpers import RecordedYouTube, harness

T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- words → lines (no infrastructure) ------------------------------------------------------------
def w(start: float, end: float, text: str) -> Word:
    return Word(start, end, text)


def test_one_line_per_sentence_timed_by_its_words() -> None:
    words = [w(0.0, 0.3, " Hello"), w(0.3, 0.6, " there."), w(1.5, 1.8, " Mr."), w(1.8, 2.2, " Smith"),
             w(2.2, 2.5, " is"), w(2.5, 2.9, " here!"), w(3.4, 3.6, " And"), w(3.6, 3.9, " you?")]
    assert sentences(words) == [{"start": 0.0, "end": 0.6, "transcript": "Hello there."},
                                {"start": 1.5, "end": 2.9, "transcript": "Mr. Smith is here!"},
                                {"start": 3.4, "end": 3.9, "transcript": "And you?"}]


def test_a_long_silence_ends_a_line_even_without_a_full_stop() -> None:
    words = [w(0.0, 0.4, " the"), w(0.4, 0.8, " weather"), w(0.8, 1.2, " was"), w(1.2, 1.6, " cold"),
             w(2.6, 2.9, " my"), w(2.9, 3.3, " brother"), w(3.3, 3.6, " plays.")]
    assert [line["transcript"] for line in sentences(words)] == ["the weather was cold", "my brother plays."]


def test_a_long_sentence_is_split_at_its_longest_pause() -> None:
    first = [w(i * 0.4, i * 0.4 + 0.3, f" a{i}") for i in range(10)]
    second = [w(5.0 + i * 0.4, 5.3 + i * 0.4, f" b{i}") for i in range(10)]
    second[-1] = w(8.6, 8.9, " end.")
    lines = sentences([*first, *second], max_s=6.0)
    assert [line["start"] for line in lines] == [0.0, 5.0]
    assert lines[0]["transcript"].startswith("a0") and lines[1]["transcript"].endswith("end.")


def test_a_clause_end_is_preferred_when_pauses_are_alike() -> None:
    words = [w(i * 0.5, i * 0.5 + 0.4, f" w{i}{',' if i == 5 else ''}") for i in range(12)]
    lines = sentences(words, max_words=8)
    assert lines[0]["transcript"].endswith("w5,") and len(lines) == 2


def test_a_job_is_claimed_once_renewed_only_by_its_worker_and_retried_after_a_lapse() -> None:
    job = {"_id": "c:v", "job_id": "j1", "status": "queued", "attempts": 0, "due": T0}
    claim = speech.claimed(job, job_id="j1", worker="a", now=T0, lease_s=30, max_attempts=2)
    assert claim is not None and claim.set["status"] == "running" and claim.set["attempts"] == 1
    running = {**job, **claim.set}
    assert speech.claimed(running, job_id="j1", worker="b", now=T0 + timedelta(seconds=10), lease_s=30,
                          max_attempts=2) is None  # the lease holds
    assert speech.renewed(running, job_id="j1", worker="b", now=T0, lease_s=30, progress_s=1, duration_s=9) is None
    assert speech.claimed(running, job_id="j0", worker="b", now=T0 + timedelta(minutes=5), lease_s=30,
                          max_attempts=2) is None  # an older request's event
    taken = speech.claimed(running, job_id="j1", worker="b", now=T0 + timedelta(seconds=31), lease_s=30,
                           max_attempts=2)
    assert taken is not None and taken.set["worker"] == "b" and taken.set["attempts"] == 2
    again = {**running, **taken.set}
    lost = speech.claimed(again, job_id="j1", worker="c", now=T0 + timedelta(minutes=2), lease_s=30, max_attempts=2)
    assert lost is not None and (lost.set["status"], lost.set["reason"]) == ("failed", "worker_lost")
    assert speech.finished(again, job_id="j1", worker="a", now=T0, line_count=3, duration_s=9.0) is None  # lost


def test_a_retryable_failure_backs_off_until_the_last_attempt() -> None:
    running = {"job_id": "j", "status": "running", "worker": "a", "attempts": 1}
    retry = speech.failed(running, job_id="j", worker="a", now=T0, reason="timeout", retryable=True, max_attempts=2,
                          backoff_s=10)
    assert retry is not None and retry.set["status"] == "queued" and retry.set["due"] == T0 + timedelta(seconds=10)
    last = speech.failed({**running, "attempts": 2}, job_id="j", worker="a", now=T0, reason="timeout",
                         retryable=True, max_attempts=2, backoff_s=10)
    assert last is not None and last.set["status"] == "failed"
    with pytest.raises(speech.NoActiveJob):
        speech.cancelled({"status": "done"}, video_id="v", now=T0)


def test_a_links_audio_is_fetched_by_yt_dlp(tmp_path: Path) -> None:
    """The production path for YouTube videos, on a direct link served on loopback (yt-dlp's
    generic extractor; YouTube itself is not reachable from the tests)."""
    site, out = tmp_path / "site", tmp_path / "out"
    site.mkdir()
    out.mkdir()
    wav = speak(SENTENCES[:1]).wav
    (site / "talk.wav").write_bytes(wav)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert download_audio(f"{base}/talk.wav", out, timeout_s=10).read_bytes() == wav
        with pytest.raises(AudioNotFetched):
            download_audio(f"{base}/missing.wav", out, timeout_s=10)
    finally:
        server.shutdown()
        server.server_close()


# --- whole jobs -----------------------------------------------------------------------------------
def stt_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"stt_consumer_group": "stt-" + uuid.uuid4().hex[:8], "stt_lease_s": 3.0,
                                       "stt_sweep_interval_s": 0.5, "stt_retry_backoff_s": 0.2,
                                       "stt_cpu_threads": 1, **overrides})


async def start_stt_group(settings: Settings, endpoints: Endpoints) -> None:
    await ensure_topics(endpoints.kafka_bootstrap, [c.topic for c in REGISTRY])
    await start_group_at_end(endpoints.kafka_bootstrap, settings.stt_consumer_group + settings.consumer_group_suffix,
                             ["transcript.stt_requested", "session.revoked"])


@contextlib.asynccontextmanager
async def stt_system(settings: Settings, endpoints: Endpoints, video: str) -> AsyncIterator[tuple[Any, str]]:
    """The API (in-process client), the relay and one stt worker on real Kafka, and a published
    YouTube video still waiting for its captions; yields the harness and the channel id."""
    await start_stt_group(settings, endpoints)
    ch = unique("UCstt")
    async with harness(settings) as h, LifespanManager(relay_app(settings)), LifespanManager(stt_app(settings)):
        await h.publish(ch, video)
        yield h, ch


def audio_form(data: bytes, name: str = "talk.wav") -> dict[str, Any]:
    return {"files": {"audio": (name, data, "application/octet-stream")}}


async def job_of(h, ch: str, video: str, admin: dict[str, str]) -> dict[str, Any]:
    r = await h.client.get(f"/service/{ch}/{video}/transcribe", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


async def until_status(h, ch: str, video: str, admin: dict[str, str], *statuses: str,
                       within_s: float = 60) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await job_of(h, ch, video, admin)
        return job if job["status"] in statuses else None

    found: dict[str, Any] = await eventually(check, within_s=within_s, interval=0.2, what=f"job {statuses}")
    return found


@pytest.mark.integration
async def test_an_uploaded_recording_becomes_one_line_per_sentence(settings: Settings, endpoints: Endpoints,
                                                                   issuer: TestIssuer) -> None:
    settings = stt_settings(settings)
    video, admin = "sttVideo001", issuer.headers("editor", role="Admin")
    spoken = speak()
    async with stt_system(settings, endpoints, video) as (h, ch):
        asked = await h.client.post(f"/service/{ch}/{video}/transcribe", headers=admin, **audio_form(spoken.wav))
        assert asked.status_code == 202, asked.text
        assert asked.json()["status"] == "queued" and asked.json()["model"] == "whisper-tiny.en"
        job = await until_status(h, ch, video, admin, "done", "failed")
        assert job["status"] == "done" and job["attempts"] == 1 and job["progress"] == 1.0
        assert job["duration_s"] == pytest.approx(spoken.spans[-1][1] + 1.0, abs=0.1)
        served = await h.client.get(f"/service/video-transcript/{ch}/{video}", headers=admin)
        assert served.status_code == 200
        lines = served.json()["transcript"]
        doc = await h.doc(ch, video)
        assert doc["source"] == "speech_to_text" and doc["stt_model"] == "whisper-tiny.en"
        assert await h.db.stt_audio.count_documents({}) == 0  # the upload is gone with the job

    assert len(lines) == len(SENTENCES), lines
    for line, said, (start, end) in zip(lines, spoken.sentences, spoken.spans, strict=True):
        assert word_error_rate(said, line["transcript"]) <= 0.35, (said, line["transcript"])
        assert line["transcript"][-1] in ".?!"  # punctuation kept
        assert abs(line["start"] - start) <= 0.5 and abs(line["end"] - end) <= 0.5, (line, start, end)
    ready = await read_keyed(endpoints.kafka_bootstrap, "transcript.ready", {f"{ch}:{video}"})
    assert [e.data["source"] for e in ready] == ["speech_to_text"]


@pytest.mark.integration
async def test_requests_that_cannot_be_taken_are_refused(settings: Settings, issuer: TestIssuer) -> None:
    settings = stt_settings(settings, stt_max_upload_mb=1)
    ch, video, admin = unique("UCstt"), "sttVideo002", issuer.headers("editor", role="Admin")
    path = f"/service/{ch}/{video}/transcribe"
    async with harness(settings) as h:
        await h.publish(ch, video)
        learner = await h.client.post(path, headers=issuer.headers("learner"), **audio_form(speak().wav))
        assert learner.status_code == 403
        unknown = await h.client.post(f"/service/{ch}/noSuchVideo/transcribe", headers=admin,
                                      **audio_form(speak().wav))
        assert unknown.status_code == 404
        text = await h.client.post(path, headers=admin, **audio_form(b"just some text, not audio", "a.txt"))
        assert text.status_code == 415 and "Unsupported audio type" in text.json()["error"]
        big = b"RIFF\0\0\0\0WAVEfmt " + b"\0" * (2 << 20)
        too_large = await h.client.post(path, headers=admin, **audio_form(big))
        assert too_large.status_code == 413 and "error" in too_large.json()
        assert await h.db.stt_audio.count_documents({}) == 0  # nothing half-written
        assert (await h.client.get(path, headers=admin)).status_code == 404
        assert (await h.client.delete(path, headers=admin)).status_code == 409
        first = await h.client.post(path, headers=admin, **audio_form(speak(SENTENCES[:1]).wav))
        assert first.status_code == 202
        again = await h.client.post(path, headers=admin, **audio_form(speak(SENTENCES[:1]).wav))
        assert again.status_code == 409 and "being transcribed" in again.json()["error"]
        cancelled = await h.client.delete(path, headers=admin)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert await h.db.stt_audio.count_documents({}) == 0 and await h.db.stt_queue.count_documents({}) == 0


@pytest.mark.integration
async def test_corrupt_audio_fails_once_and_the_video_hears_why(settings: Settings, endpoints: Endpoints,
                                                                issuer: TestIssuer) -> None:
    settings = stt_settings(settings)
    video, admin = "sttVideo003", issuer.headers("editor", role="Admin")
    corrupt = b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(4000)
    async with stt_system(settings, endpoints, video) as (h, ch):
        assert (await h.client.post(f"/service/{ch}/{video}/transcribe", headers=admin,
                                    **audio_form(corrupt))).status_code == 202
        job = await until_status(h, ch, video, admin, "done", "failed")
        assert job["status"] == "failed" and job["reason"].startswith("audio_unreadable") and job["attempts"] == 1
        doc = await eventually(lambda: _with_failure(h, ch, video), within_s=10, what="the video's failure")
        assert doc["status"] == "pending" and doc["stt_failure"] == job["reason"]
        assert "ds-stt-" not in job["reason"]  # the worker's file paths stay inside
    failed = await read_keyed(endpoints.kafka_bootstrap, "transcript.failed", {f"{ch}:{video}"})
    assert failed[0].data["reason"].startswith("speech_to_text: audio_unreadable")


@pytest.mark.integration
async def test_a_job_past_its_time_budget_is_retried_then_failed(settings: Settings, endpoints: Endpoints,
                                                                 issuer: TestIssuer) -> None:
    settings = stt_settings(settings, stt_timeout_base_s=0.2, stt_timeout_s_per_audio_minute=0.0,
                            stt_max_attempts=2, stt_lease_s=1.5)
    video, admin = "sttVideo004", issuer.headers("editor", role="Admin")
    async with stt_system(settings, endpoints, video) as (h, ch):
        await h.client.post(f"/service/{ch}/{video}/transcribe", headers=admin, **audio_form(speak(repeat=10).wav))
        job = await until_status(h, ch, video, admin, "done", "failed")
        assert (job["status"], job["reason"], job["attempts"]) == ("failed", "timeout", 2)


@pytest.mark.integration
async def test_a_worker_killed_mid_job_is_taken_over_and_the_transcript_is_written_once(
        settings: Settings, endpoints: Endpoints, issuer: TestIssuer) -> None:
    settings = stt_settings(settings, stt_lease_s=2.0)
    await start_stt_group(settings, endpoints)
    ch, video, admin = unique("UCstt"), "sttVideo005", issuer.headers("editor", role="Admin")
    spoken = speak(repeat=20)  # five minutes: long enough to be killed in the middle
    env = {**os.environ, **{f"DS_TRANSCRIPTS_{name.upper()}": str(value)
                            for name, value in settings.model_dump().items()
                            if value is not None and not isinstance(value, dict | list)}}
    async with harness(settings) as h, LifespanManager(relay_app(settings)):
        await h.publish(ch, video)
        doomed = await asyncio.create_subprocess_exec(sys.executable, "-m", "ds_transcripts", "stt", "--port", "0",
                                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await h.client.post(f"/service/{ch}/{video}/transcribe", headers=admin, **audio_form(spoken.wav))
            running = await eventually(lambda: _progressing(h, ch, video, admin), within_s=60, interval=0.2,
                                       what="the first worker under way")
            doomed.send_signal(signal.SIGKILL)
        finally:
            if doomed.returncode is None:
                doomed.kill()
            await doomed.wait()
        assert running["status"] == "running" and running["attempts"] == 1
        # Its consumer joins the group while the killed one is still a member: leaving it at the end
        # may wait for that rebalance (the session timeout).
        async with LifespanManager(stt_app(settings), shutdown_timeout=30):
            job = await until_status(h, ch, video, admin, "done", "failed", within_s=90)
        assert job["status"] == "done" and job["attempts"] == 2
        lines = (await h.doc(ch, video))["transcript"]
        said = " ".join(line["transcript"] for line in lines)
        assert word_error_rate(" ".join(spoken.sentences), said) <= 0.2 and len(lines) >= len(spoken.spans) - 2
        await asyncio.sleep(1.0)  # let the relay publish what there is
    ready = await read_keyed(endpoints.kafka_bootstrap, "transcript.ready", {f"{ch}:{video}"}, timeout=5)
    assert len(ready) == 1


async def _with_failure(h, ch: str, video: str) -> dict[str, Any] | None:
    doc = await h.doc(ch, video)
    return doc if doc and "stt_failure" in doc else None


async def _progressing(h, ch: str, video: str, admin: dict[str, str]) -> dict[str, Any] | None:
    job = await job_of(h, ch, video, admin)
    return job if job["status"] == "running" and job["progress_s"] > 0 else None


@pytest.mark.integration
async def test_cancelling_a_running_job_stops_its_worker(settings: Settings, endpoints: Endpoints,
                                                         issuer: TestIssuer) -> None:
    settings = stt_settings(settings, stt_lease_s=1.5)
    video, admin = "sttVideo006", issuer.headers("editor", role="Admin")
    async with stt_system(settings, endpoints, video) as (h, ch):
        await h.client.post(f"/service/{ch}/{video}/transcribe", headers=admin, **audio_form(speak(repeat=20).wav))
        await until_status(h, ch, video, admin, "running")
        assert (await h.client.delete(f"/service/{ch}/{video}/transcribe", headers=admin)).status_code == 200
        await asyncio.sleep(3.0)  # more than a lease renewal: the worker has read the cancellation
        job = await job_of(h, ch, video, admin)
        doc = await h.doc(ch, video)
    assert job["status"] == "cancelled" and doc["status"] == "pending" and "stt_job" not in doc


@pytest.mark.integration
async def test_a_video_without_captions_is_queued_for_its_audio_when_the_setting_is_on(settings: Settings,
                                                                                       issuer: TestIssuer) -> None:
    admin = issuer.headers("editor", role="Admin")
    for enabled, video in ((True, "noCaptions1"), (False, "noCaptions2")):
        ch = unique("UCstt")
        with RecordedYouTube({video: "disabled"}):
            async with harness(stt_settings(settings, stt_on_missing_captions=enabled)) as h:
                await h.publish(ch, video)
                r = await h.client.get(f"/service/video-transcript/{ch}/{video}", headers=admin)
                assert r.status_code == 404 and r.json()["reason"] == "transcripts_disabled"
                job = await h.client.get(f"/service/{ch}/{video}/transcribe", headers=admin)
        if enabled:
            assert job.status_code == 200 and (job.json()["status"], job.json()["audio"]) == ("queued", "youtube")
        else:
            assert job.status_code == 404


@pytest.mark.integration
async def test_a_job_keeps_the_trace_of_the_request_that_asked_for_it(settings: Settings) -> None:
    """Each attempt's span continues it (messaging/speech_worker.py), minutes later, on any worker."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    ch, video = unique("UCstt"), "sttVideo007"

    async def upload() -> AsyncIterator[bytes]:
        yield speak(SENTENCES[:1]).wav

    async with harness(stt_settings(settings)) as h:
        await h.publish(ch, video)
        with span_in("POST transcribe", context_of(f"00-{trace_id}-00f067aa0ba902b7-01"), kind=SpanKind.SERVER):
            job = await h.app.state.ctx.speech.request(ch, video, upload=upload(), requested_by="editor")
    assert job["traceparent"].split("-")[1] == trace_id

