"""Every admin edit and restore, filters, the refined flag, their events and bad input."""

import asyncio

import pytest
from ds_common.testing.jwks import TestIssuer
from ds_transcripts.settings import Settings
from transcripts_helpers import Harness, harness, no_youtube

pytestmark = pytest.mark.integration
CH = "UCediting"
SRT = "1\n00:00:00,000 --> 00:00:02,000\n[Music] Hello there\n\n2\n00:00:02,000 --> 00:00:03,000\n[Music]\n\n" \
      "3\n00:00:03,000 --> 00:00:05,500\nGeneral Kenobi (laughs)\n"
UPLOADED = [{"start": 0.0, "end": 2.0, "transcript": "[Music] Hello there"},
            {"start": 2.0, "end": 3.0, "transcript": "[Music]"},
            {"start": 3.0, "end": 5.5, "transcript": "General Kenobi (laughs)"}]


def line(start: float, end: float, text: str) -> dict:
    return {"start": start, "end": end, "transcript": text}


async def transcript(h: Harness, issuer: TestIssuer, video_id: str) -> list[dict]:
    r = await h.client.get(f"/service/video-transcript/{CH}/{video_id}", headers=issuer.headers("a", role="Admin"))
    assert r.status_code == 200, r.text
    return r.json()["transcript"]


def outbox_types(doc: dict) -> list[str]:
    return [e["type"] for e in doc.get("_outbox", [])]


async def test_line_update_full_replace_and_restore(settings: Settings, issuer: TestIssuer) -> None:
    admin = issuer.headers("editor", role="Admin")
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, "editVideo01", srt=SRT, title="Editing")
            assert await transcript(h, issuer, "editVideo01") == UPLOADED  # warms the cache

            r = await h.client.put(f"/service/{CH}/editVideo01/transcript",
                                   json={"index": 1, "start": 2.0, "end": 3.25, "transcript": "  Fixed   line "},
                                   headers=admin)
            assert r.status_code == 200 and r.json() == {"message": "Transcript item updated successfully"}
            assert (await transcript(h, issuer, "editVideo01"))[1] == line(2.0, 3.25, "Fixed line")  # not stale

            new = [line(0, 1, "One"), {**line(1, 2, "Two"), "userInput": "ignored"}]
            r = await h.client.put(f"/service/{CH}/editVideo01/full-transcript", json={"transcript": new},
                                   headers=admin)
            assert r.json() == {"message": "Transcript updated successfully for video editVideo01"}
            assert await transcript(h, issuer, "editVideo01") == [line(0, 1, "One"), line(1, 2, "Two")]
            doc = await h.doc(CH, "editVideo01")
            assert doc["original_transcript"] == UPLOADED  # snapshot taken once, before the first edit
            assert outbox_types(doc) == ["transcript.ready"] * 3
            assert [e["data"]["source"] for e in doc["_outbox"]] == ["uploaded_srt", "edited", "edited"]
            assert [e["sequence"] for e in doc["_outbox"]] == [1, 2, 3]

            restored = await h.client.post(f"/service/{CH}/editVideo01/restore-transcript", headers=admin)
            assert restored.json() == {"channel_id": CH, "video_id": "editVideo01", "title": "Editing",
                                       "transcript": UPLOADED}
            assert "original_transcript" not in await h.doc(CH, "editVideo01")
            # edit again and restore twice: the snapshot first, then the upload itself is still there
            await h.client.put(f"/service/{CH}/editVideo01/full-transcript", json={"transcript": new}, headers=admin)
            for _ in range(2):
                r = await h.client.post(f"/service/{CH}/editVideo01/restore-transcript", headers=admin)
                assert r.status_code == 200 and r.json()["transcript"] == UPLOADED
            assert await transcript(h, issuer, "editVideo01") == UPLOADED


async def test_edit_errors_and_roles(settings: Settings, issuer: TestIssuer) -> None:
    admin = issuer.headers("editor", role="Admin")
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, "editVideo02", srt=SRT)
            base = f"/service/{CH}/editVideo02"
            cases = [
                ("put", f"{base}/transcript", {"index": 3, "start": 0, "end": 1, "transcript": "x"}, 400,
                 {"error": "Invalid transcript index"}),
                ("put", f"{base}/transcript", {"index": 0, "start": 2, "end": 1, "transcript": "x"}, 400, None),
                ("put", f"{base}/transcript", {"index": 0, "start": 0, "end": 1, "transcript": "x", "role": "A"},
                 400, None),
                ("put", f"{base}/transcript", {"index": "x", "start": 0, "end": 1, "transcript": "x"}, 400, None),
                ("put", f"{base}/full-transcript", {"transcript": []}, 400, {"error": "Transcript data is required"}),
                ("put", f"{base}/full-transcript", {}, 400, {"error": "Transcript data is required"}),
                ("put", f"{base}/full-transcript", {"transcript": [{"start": "NaN", "end": 1, "transcript": "x"}]},
                 400, None),
                ("put", f"/service/{CH}/missingVid1/full-transcript", {"transcript": [line(0, 1, "x")]}, 404,
                 {"error": f"Video missingVid1 not found in channel {CH}"}),
                ("post", f"/service/{CH}/missingVid1/restore-transcript", None, 404, None),
                ("post", f"{base}/mark-refined", {"is_refined": "yes"}, 400, None),
                ("post", f"{base}/apply-filters", {"filters": []}, 400, {"error": "Filters list is required"}),
                ("post", f"/service/{CH}/transcript-filters", {}, 400, {"error": "Filters list is required"}),
                ("put", f"/service/{CH}/batch-transcript-update", {"videos": []}, 400,
                 {"error": "Videos data is required"}),
                ("put", f"/service/{CH}/batch-restore-transcripts", {}, 400, {"error": "Videos data is required"}),
                ("post", f"/service/{CH}/batch-apply-filters", {"filters": ["x"]}, 400, None),
                ("put", f"/service/{CH}/batch-restore-transcripts", {"videos": [{"video_id": "../etc"}]}, 400, None),
            ]
            for method, path, body, status, expected in cases:
                r = await getattr(h.client, method)(path, headers=admin, **({"json": body} if body is not None else {}))
                assert r.status_code == status, (path, body, r.text)
                assert "error" in r.json()
                if expected:
                    assert r.json() == expected
            raw = await h.client.put(f"{base}/full-transcript", content=b"{not json", headers=admin)
            assert raw.status_code == 400
            learner = issuer.headers("learner")
            for method, path, body in [("put", f"{base}/full-transcript", {"transcript": [line(0, 1, "x")]}),
                                       ("post", f"{base}/restore-transcript", None),
                                       ("get", f"/service/{CH}/transcript-summary", None),
                                       ("post", f"{base}/mark-refined", {"is_refined": True}),
                                       ("post", f"/service/{CH}/transcript-filters", {"filters": ["x"]})]:
                r = await getattr(h.client, method)(path, headers=learner, **({"json": body} if body else {}))
                assert r.status_code == 403 and r.json() == {"error": "Admin access required"}, path
            assert (await h.client.put(f"{base}/transcript", json={})).status_code == 401
            assert (await h.doc(CH, "editVideo02"))["version"] == 1  # nothing above changed the video


async def test_batches_and_summary(settings: Settings, issuer: TestIssuer) -> None:
    admin = issuer.headers("editor", role="Admin")
    with no_youtube():
        async with harness(settings) as h:
            for video_id in ("batchVideo2", "batchVideo1"):
                await h.publish(CH, video_id, srt=SRT, title=f"T {video_id}")
            r = await h.client.put(f"/service/{CH}/batch-transcript-update", headers=admin, json={"videos": [
                {"video_id": "batchVideo2", "transcript": [line(0, 1, "two")]},
                {"video_id": "missingVid1", "transcript": [line(0, 1, "x")]},
                {"video_id": "batchVideo1", "transcript": [line(0, 1, "one"), line(1, 2, "more")]}]})
            body = r.json()
            assert body["message"] == "Batch update completed: 2 successful, 1 failed"
            assert (body["success_count"], body["error_count"]) == (2, 1)
            assert [(x["video_id"], x["success"], x["status_code"]) for x in body["results"]] == [
                ("batchVideo1", True, 200), ("batchVideo2", True, 200), ("missingVid1", False, 404)]

            await h.client.post(f"/service/{CH}/batchVideo1/mark-refined", json={"is_refined": True}, headers=admin)
            summary = (await h.client.get(f"/service/{CH}/transcript-summary", headers=admin)).json()
            assert summary["channel_id"] == CH and summary["total_videos"] == 2
            first = summary["summaries"][0]
            assert first["video_id"] == "batchVideo1" and first["title"] == "T batchVideo1"
            assert first["transcript_count"] == 2 and first["has_original"] is True
            assert isinstance(first["last_updated"], int) and first["is_refined"] is True
            assert isinstance(first["refined_at"], int)
            assert summary["summaries"][1]["is_refined"] is False and summary["summaries"][1]["refined_at"] is None

            r = await h.client.put(f"/service/{CH}/batch-restore-transcripts", headers=admin,
                                   json={"videos": [{"video_id": "batchVideo1"}, {"video_id": "batchVideo2"}]})
            assert r.json()["message"] == "Batch restore completed: 2 successful, 0 failed"
            assert await transcript(h, issuer, "batchVideo1") == UPLOADED
            summary = (await h.client.get(f"/service/{CH}/transcript-summary", headers=admin)).json()
            assert [s["has_original"] for s in summary["summaries"]] == [False, False]


async def test_filters_saved_applied_and_batched(settings: Settings, issuer: TestIssuer) -> None:
    admin = issuer.headers("editor", role="Admin")
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, "filterVid01", srt=SRT)
            await h.publish(CH, "filterVid02", srt=SRT)
            empty = await h.client.get(f"/service/{CH}/transcript-filters", headers=issuer.headers("learner"))
            assert empty.json() == {"channel_id": CH, "filters": []}
            saved = await h.client.post(f"/service/{CH}/transcript-filters", headers=admin,
                                        json={"filters": ["[music]", "(laughs)", "[music]"]})
            assert saved.json() == {"message": f"Successfully saved 2 filters for channel {CH}",
                                    "filters": ["[music]", "(laughs)"]}
            got = await h.client.get(f"/service/{CH}/transcript-filters", headers=issuer.headers("learner"))
            assert got.json() == {"channel_id": CH, "filters": ["[music]", "(laughs)"]}

            r = await h.client.post(f"/service/{CH}/filterVid01/apply-filters", headers=admin,
                                    json={"filters": ["[music]", "(laughs)"]})
            body = r.json()
            assert r.status_code == 200 and body["channel_id"] == CH and body["video_id"] == "filterVid01"
            assert body["filters_applied"] == 2 and body["total_changes"] == 3
            assert body["filter_stats"] == {"[music]": 2, "(laughs)": 1}
            assert body["transcript"] == [line(0.0, 3.0, "Hello there"), line(3.0, 5.5, "General Kenobi")]
            assert await transcript(h, issuer, "filterVid01") == body["transcript"]
            assert (await h.doc(CH, "filterVid01"))["original_transcript"] == UPLOADED

            batch = await h.client.post(f"/service/{CH}/batch-apply-filters", headers=admin,
                                        json={"video_ids": ["filterVid02", "missingVid1"], "filters": ["(laughs)"]})
            body = batch.json()
            assert (body["total_videos"], body["success_count"], body["error_count"]) == (2, 1, 1)
            assert body["filters_applied"] == 1
            ok, missing = body["results"]
            assert ok["video_id"] == "filterVid02" and ok["total_changes"] == 1
            assert ok["transcript"][2] == line(3.0, 5.5, "General Kenobi")
            assert missing == {"video_id": "missingVid1", "success": False, "status_code": 404,
                               "message": f"Video missingVid1 not found in channel {CH}"}
            gone = await h.client.post(f"/service/{CH}/missingVid1/apply-filters", headers=admin,
                                       json={"filters": ["x"]})
            assert gone.status_code == 404 and gone.json()["channel_id"] == CH
            assert gone.json()["video_id"] == "missingVid1"


async def test_refined_flag(settings: Settings, issuer: TestIssuer) -> None:
    admin = issuer.headers("editor", role="Admin")
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, "refinedVid1", srt=SRT)
            path = f"/service/{CH}/refinedVid1/mark-refined"
            before = await h.client.get(path, headers=issuer.headers("learner"))
            assert before.json() == {"channel_id": CH, "video_id": "refinedVid1", "is_refined": False,
                                     "refined_at": None}
            marked = (await h.client.post(path, json={"is_refined": True}, headers=admin)).json()
            assert marked["is_refined"] is True and isinstance(marked["refined_at"], int)
            assert marked["message"] == "Video refinedVid1 marked as refined"
            after = (await h.client.get(path, headers=issuer.headers("learner"))).json()
            assert after["is_refined"] is True and after["refined_at"] == marked["refined_at"]
            unmarked = (await h.client.post(path, json={"is_refined": False}, headers=admin)).json()
            assert unmarked["is_refined"] is False and unmarked["refined_at"] is None
            doc = await h.doc(CH, "refinedVid1")
            refined = [e["data"] for e in doc["_outbox"] if e["type"] == "transcript.refined"]
            assert [e["is_refined"] for e in refined] == [True, False]
            assert (await h.client.get(f"/service/{CH}/nopeVideo1/mark-refined",
                                       headers=issuer.headers("learner"))).status_code == 404


async def test_concurrent_edits_are_never_lost(settings: Settings, issuer: TestIssuer) -> None:
    admin = issuer.headers("editor", role="Admin")
    with no_youtube():
        async with harness(settings) as h:
            await h.publish(CH, "raceVideo01", lines=[line(i, i + 1, f"line {i}") for i in range(6)])
            answers = await asyncio.gather(*(
                h.client.put(f"/service/{CH}/raceVideo01/transcript", headers=admin,
                             json={"index": i, "start": i, "end": i + 1, "transcript": f"edited {i}"})
                for i in range(6)))
            assert [a.status_code for a in answers] == [200] * 6
            assert [x["transcript"] for x in await transcript(h, issuer, "raceVideo01")] == \
                [f"edited {i}" for i in range(6)]
            assert (await h.doc(CH, "raceVideo01"))["version"] == 7
