"""Speech-to-text through the gateway: an admin adds a video without captions, uploads its audio,
follows the job (transcripts' api → outbox → Kafka → the `stt` worker processes), and a learner
then practises it sentence by sentence."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from ds_common.testing.speech import SENTENCES, speak, word_error_rate
from e2e_helpers import bearer, poll, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_an_admin_uploads_audio_and_a_learner_practises_its_sentences(whole_system: Any) -> None:
    with httpx.Client(base_url=whole_system.gateway, timeout=30) as gateway:
        admin = bearer(sign_in(gateway, whole_system, whole_system.admin_email, "Admin")["access"])
        channel_id, video_id = f"stt-{uuid.uuid4().hex[:8]}", f"{uuid.uuid4().hex[:10]}s"
        assert gateway.post("/service/channel", headers=admin, json={"channels": [
            {"id": channel_id, "name": "Spoken", "image_url": "https://img.test/s.jpg",
             "link": "https://www.youtube.com/@spoken", "language": "en", "visibility": "public"}]}).status_code == 200
        items = [{"channel_id": channel_id, "video_link": f"https://www.youtube.com/watch?v={video_id}",
                  "title": "No captions", "visibility": "public"}]
        assert gateway.post("/service/video-list", headers=admin, data={"data": json.dumps(items)}).status_code == 200
        path = f"/service/{channel_id}/{video_id}/transcribe"

        def asked() -> httpx.Response | None:  # the transcripts service hears of the video first
            r = gateway.post(path, headers=admin, files={"audio": ("talk.wav", speak().wav, "audio/wav")})
            return r if r.status_code == 202 else None

        assert poll(asked, within_s=30, what="the video known to transcripts").json()["status"] == "queued"
        job = poll(lambda: (j := gateway.get(path, headers=admin).json())["status"] in ("done", "failed") and j,
                   within_s=90, what="the speech-to-text job")
        assert job["status"] == "done" and job["line_count"] == len(SENTENCES), job

        learner = bearer(sign_in(gateway, whole_system, f"stt-{uuid.uuid4().hex[:6]}@e2e.test", "Learner")["access"])
        served = gateway.get(f"/service/video-transcript/{channel_id}/{video_id}", headers=learner)
        assert served.status_code == 200, served.text
        lines = served.json()["transcript"]
    rates = [word_error_rate(said, line["transcript"]) for said, line in zip(SENTENCES, lines, strict=True)]
    assert max(rates) <= 0.35, list(zip(rates, lines, strict=True))
