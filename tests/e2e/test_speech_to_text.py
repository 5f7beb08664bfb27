"""Speech-to-text through the gateway: an admin adds a video with poor captions, uploads its audio,
follows the job (transcripts' api → outbox → Kafka → the `stt` worker processes), and a learner
then practises it sentence by sentence."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from ds_common.testing.speech import SENTENCES, speak, word_error_rate
from e2e_helpers import bearer, poll, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
# What the catalog's upload requires and YouTube's automatic captions look like: no punctuation, cut anywhere.
POOR_CAPTIONS = b"1\n00:00:00,000 --> 00:00:09,000\nthe weather was cold and grey this morning my brother plays\n"


def test_an_admin_uploads_audio_and_a_learner_practises_its_sentences(whole_system: Any) -> None:
    with httpx.Client(base_url=whole_system.gateway, timeout=30) as gateway:
        admin = bearer(sign_in(gateway, whole_system, whole_system.admin_email, "Admin")["access"])
        channel_id, video_id = f"stt-{uuid.uuid4().hex[:8]}", f"{uuid.uuid4().hex[:10]}s"
        assert gateway.post("/service/channel", headers=admin, json={"channels": [
            {"id": channel_id, "name": "Spoken", "image_url": "https://img.test/s.jpg",
             "link": "https://www.youtube.com/@spoken", "language": "en", "visibility": "public"}]}).status_code == 200
        items = [{"channel_id": channel_id, "video_link": f"https://www.youtube.com/watch?v={video_id}",
                  "title": "Poor captions", "visibility": "public"}]
        added = gateway.post("/service/video-list", headers=admin, data={"data": json.dumps(items)},
                             files=[("transcript_files", (f"{video_id}.srt", POOR_CAPTIONS, "application/x-subrip"))])
        assert added.status_code == 200 and added.json()["results"][0]["success"], added.text
        path = f"/service/{channel_id}/{video_id}/transcribe"

        audio, answers = speak().wav, []

        def asked() -> httpx.Response | None:  # the transcripts service hears of the video first
            answers.append(gateway.post(path, headers=admin, files={"audio": ("talk.wav", audio, "audio/wav")}))
            time.sleep(0.2)
            return answers[-1] if answers[-1].status_code == 202 else None

        try:
            assert poll(asked, within_s=30, what="the video known to transcripts").json()["status"] == "queued"
        except AssertionError:
            raise AssertionError(f"last answer: {answers[-1].status_code} {answers[-1].text}") from None
        job = poll(lambda: (j := gateway.get(path, headers=admin).json())["status"] in ("done", "failed") and j,
                   within_s=90, what="the speech-to-text job")
        assert job["status"] == "done" and job["line_count"] == len(SENTENCES), job
        assert gateway.get(f"/service/{channel_id}/transcript-summary", headers=admin).json()["summaries"][0][
            "transcript_count"] == len(SENTENCES)

        learner = bearer(sign_in(gateway, whole_system, f"stt-{uuid.uuid4().hex[:6]}@e2e.test", "Learner")["access"])
        served = gateway.get(f"/service/video-transcript/{channel_id}/{video_id}", headers=learner)
        assert served.status_code == 200, served.text
        lines = served.json()["transcript"]
    rates = [word_error_rate(said, line["transcript"]) for said, line in zip(SENTENCES, lines, strict=True)]
    assert max(rates) <= 0.35, list(zip(rates, lines, strict=True))
