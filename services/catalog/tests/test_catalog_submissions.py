"""Channel recommendations (with the approve/reject path legacy broke) and video error reports."""

import uuid

import httpx
import pytest
from catalog_helpers import make_channel, new_channel_id, new_video_id, upload_videos
from ds_common.testing.jwks import TestIssuer

pytestmark = pytest.mark.integration


def user(issuer: TestIssuer, email: str = "someone@example.com") -> dict[str, str]:
    return issuer.headers(f"user-{uuid.uuid4().hex[:8]}", email=email)


async def test_recommendations_are_owner_only_and_admins_decide(
        client: httpx.AsyncClient, issuer: TestIssuer, admin: dict) -> None:
    alice, bob = user(issuer, "alice@example.com"), user(issuer, "bob@example.com")
    body = {"link": "https://www.youtube.com/@chan", "language": "en", "name": "A channel"}
    r = await client.post("/user/channel-recommendations", json=body, headers=alice)
    assert r.status_code == 200, r.text
    rec = r.json()["recommendation"]
    assert r.json()["message"] == "Channel recommendation submitted successfully"
    assert uuid.UUID(rec["id"]) and rec["status"] == "pending" and isinstance(rec["submittedAt"], int)
    assert {k: rec[k] for k in body} == body
    second = (await client.post("/user/channel-recommendations", json={**body, "name": "Second"},
                                headers=alice)).json()["recommendation"]

    mine = (await client.get("/user/channel-recommendations", headers=alice)).json()
    assert [x["id"] for x in mine] == [second["id"], rec["id"]]  # newest first
    assert (await client.get("/user/channel-recommendations", headers=bob)).json() == []

    for bad in ({"link": "x", "language": "en"}, {"link": "", "language": "en", "name": "n"},
                {**body, "status": "approved"}, {"link": "x", "name": "n"}):
        r = await client.post("/user/channel-recommendations", json=bad, headers=alice)
        assert r.status_code == 400 and set(r.json()) == {"error"}, bad
    assert (await client.post("/user/channel-recommendations", json=body)).status_code == 401

    assert (await client.get("/user/channel-recommendations/admin", headers=alice)).status_code == 403
    everything = (await client.get("/user/channel-recommendations/admin", headers=admin)).json()
    listed = next(x for x in everything if x["id"] == rec["id"])
    assert listed["userEmail"] == "alice@example.com"

    channel_id = new_channel_id()
    approve = {"status": "approved", "name": "Approved channel", "link": body["link"], "language": "en",
               "imageUrl": "https://img.example/a.png", "channelId": channel_id, "visibility": "public"}
    path = f"/user/channel-recommendations/{rec['id']}"
    assert (await client.put(path, json=approve, headers=alice)).status_code == 403
    r = await client.put(path, json=approve, headers=admin)
    assert r.status_code == 200, r.text  # legacy: always 500 (W22)
    assert r.json()["message"] == "Recommendation approved successfully"
    assert r.json()["recommendation"]["status"] == "approved"
    channel = (await client.get(f"/service/channel/{channel_id}")).json()
    assert (channel["name"], channel["image_url"], channel["videos"]) == ("Approved channel",
                                                                         "https://img.example/a.png", [])
    # Approving again is idempotent (the channel came from this recommendation).
    assert (await client.put(path, json=approve, headers=admin)).json()["recommendation"]["status"] == "approved"

    # Approving a second recommendation for an existing channel rejects it.
    r = await client.put(f"/user/channel-recommendations/{second['id']}", json=approve, headers=admin)
    assert r.json()["message"] == "Recommendation rejected successfully"
    assert r.json()["recommendation"]["reason"] == "Channel already exists"
    r = await client.put(f"/user/channel-recommendations/{second['id']}", json={"status": "rejected"}, headers=admin)
    decided = r.json()["recommendation"]
    assert (decided["status"], decided["reason"]) == ("rejected", "No reason provided")
    mine = {x["id"]: x for x in (await client.get("/user/channel-recommendations", headers=alice)).json()}
    assert mine[second["id"]]["status"] == "rejected" and mine[rec["id"]]["status"] == "approved"

    for bad in ({"status": "maybe"}, {"status": "approved"}, {"status": "rejected", "role": "Admin"},
                {**approve, "channelId": "bad:id"}):
        r = await client.put(path, json=bad, headers=admin)
        assert r.status_code == 400 and set(r.json()) == {"error"}, bad
    r = await client.put(f"/user/channel-recommendations/{uuid.uuid4()}", json={"status": "rejected"}, headers=admin)
    assert r.status_code == 404 and r.json() == {"error": "Recommendation not found"}


async def test_video_error_reports(client: httpx.AsyncClient, issuer: TestIssuer, admin: dict) -> None:
    channel_id = await make_channel(client, admin)
    vid, other = await upload_videos(client, admin, channel_id, 2)
    alice, bob = user(issuer, "alice@example.com"), user(issuer, "bob@example.com")
    body = {"channelId": channel_id, "channelName": "", "videoId": vid, "videoTitle": "T",
            "errorType": "timing_error", "description": "  Subtitles drift after 2 minutes  "}
    r = await client.post("/user/video-error-reports", json=body, headers=alice)
    assert r.status_code == 200, r.text
    report_id = r.json()["reportId"]
    assert r.json()["message"] == "Video error report submitted successfully" and uuid.UUID(report_id)
    await client.post("/user/video-error-reports", json={**body, "videoId": other, "errorType": "other"},
                      headers=alice)

    for bad in ({k: v for k, v in body.items() if k != "channelName"}, {**body, "errorType": "spam"},
                {**body, "status": "resolved"}, {**body, "description": "x" * 5000}):
        r = await client.post("/user/video-error-reports", json=bad, headers=alice)
        assert r.status_code == 400 and set(r.json()) == {"error"}, bad
    r = await client.post("/user/video-error-reports", json={**body, "videoId": new_video_id()}, headers=alice)
    assert r.status_code == 404 and r.json() == {"error": "Video not found"}
    assert (await client.post("/user/video-error-reports", json=body)).status_code == 401

    mine = (await client.get("/user/video-error-reports", headers=alice)).json()
    assert len(mine) == 2 and mine[0]["videoId"] == other  # newest first
    report = mine[1]
    assert report == {"id": report_id, **body, "description": "Subtitles drift after 2 minutes",
                      "userEmail": "alice@example.com", "userName": "alice", "status": "pending",
                      "timestamp": report["timestamp"]}
    filtered = (await client.get("/user/video-error-reports", params={"channelId": channel_id, "videoId": vid},
                                 headers=alice)).json()
    assert [x["id"] for x in filtered] == [report_id]
    assert (await client.get("/user/video-error-reports", headers=bob)).json() == []

    assert (await client.get("/user/video-error-reports/admin", headers=alice)).status_code == 403
    assert report_id in {x["id"] for x in (await client.get("/user/video-error-reports/admin", headers=admin)).json()}

    path = f"/user/video-error-reports/{report_id}"
    assert (await client.put(path, json={"status": "resolved"}, headers=alice)).status_code == 403
    r = await client.put(path, json={"status": "resolved", "adminResponse": "Fixed"}, headers=admin)
    assert r.json() == {"message": "Video error report updated successfully to resolved"}
    updated = next(x for x in (await client.get("/user/video-error-reports", headers=alice)).json()
                   if x["id"] == report_id)
    assert (updated["status"], updated["adminResponse"]) == ("resolved", "Fixed") and updated["resolvedAt"]
    for bad in ({"status": "done"}, {"status": "resolved", "userEmail": "x@example.com"}):
        r = await client.put(path, json=bad, headers=admin)
        assert r.status_code == 400 and set(r.json()) == {"error"}
    r = await client.put(f"/user/video-error-reports/{uuid.uuid4()}", json={"status": "rejected"}, headers=admin)
    assert r.status_code == 404 and r.json() == {"error": "Video error report not found"}


async def test_submissions_are_rate_limited_per_user(client: httpx.AsyncClient, issuer: TestIssuer,
                                                     settings) -> None:
    alice = user(issuer)
    body = {"link": "https://www.youtube.com/@c", "language": "en", "name": "c"}
    codes = [(await client.post("/user/channel-recommendations", json=body, headers=alice)).status_code
             for _ in range(settings.submissions_per_hour + 1)]
    assert codes[:-1] == [200] * settings.submissions_per_hour and codes[-1] == 429
