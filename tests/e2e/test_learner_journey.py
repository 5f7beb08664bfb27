"""The core learner journey through the gateway, against the whole system running
as separate processes: 5 services x (api, relay, consumer) + nginx, on real Kafka, FerretDB, Redis.

Legacy request and response shapes throughout; the only change the front end makes is sending
its identity-provider token (`X-Identity-Token`) when it signs in.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import bearer, poll, sign_in, stripe_webhook

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SEED = Path(__file__).resolve().parents[2] / "deploy" / "local" / "seed"


@pytest.fixture(scope="module")
def client(whole_system: Any) -> httpx.Client:
    with httpx.Client(base_url=whole_system.gateway, timeout=15) as c:
        yield c


@pytest.fixture(scope="module")
def channel(whole_system: Any, client: httpx.Client) -> dict[str, Any]:
    """An admin (bootstrapped by e-mail) creates a channel and uploads five videos with SRT files."""
    admin = sign_in(client, whole_system, whole_system.admin_email, "Admin")
    assert admin["user"]["role"] == "Admin"
    channel_id = f"e2e-{uuid.uuid4().hex[:8]}"
    r = client.post("/service/channel", headers=bearer(admin["access"]), json={"channels": [
        {"id": channel_id, "name": "E2E Channel", "image_url": "https://img.test/c.jpg",
         "link": "https://www.youtube.com/@e2e", "language": "en", "visibility": "public"}]})
    assert r.status_code == 200, r.text
    srt = (SEED / "transcripts" / "aaaaaaaaaa1.srt").read_bytes()
    video_ids = [f"{uuid.uuid4().hex[:10]}{i}" for i in range(5)]
    items = [{"channel_id": channel_id, "video_link": f"https://www.youtube.com/watch?v={v}",
              "title": f"Video {i}", "visibility": "public"} for i, v in enumerate(video_ids)]
    r = client.post("/service/video-list", headers=bearer(admin["access"]), data={"data": json.dumps(items)},
                    files=[("transcript_files", (f"{v}.srt", srt, "application/x-subrip")) for v in video_ids])
    assert r.status_code == 200, r.text
    return {"id": channel_id, "videos": video_ids, "uploaded_at": time.monotonic(), "admin": admin}


def test_learner_journey_upgrade_and_logout(whole_system: Any, client: httpx.Client, channel: dict[str, Any]) -> None:
    email = f"learner-{uuid.uuid4().hex[:8]}@e2e.test"
    # 1. sign in with a verified identity token; tokens in the legacy headers
    me = sign_in(client, whole_system, email, "Learner")
    user = me["user"]
    assert user["email"] == email and user["role"] == "User" and user["plan"]["name"] == "Free"
    assert user["dictation_config"]["playback_speed"] == 1

    # 2. refresh: bare User object + a new access token
    r = client.post("/auth/refresh-token", headers=bearer(me["refresh"]))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == email and "x-ds-access-token" in r.headers
    access = r.headers["x-ds-access-token"]
    auth = bearer(access)

    # 3-4. channels (public, no auth) and the channel's videos, without transcripts in the list
    channels = client.get("/service/channel", params={"visibility": "public", "language": "all"})
    assert channels.status_code == 200 and isinstance(channels.json(), list)
    assert channel["id"] in [c["id"] for c in channels.json()]
    videos = client.get(f"/service/video-list/{channel['id']}", params={"visibility": "public"}, headers=auth)
    assert videos.status_code == 200, videos.text
    listed = videos.json()["videos"]
    assert sorted(v["video_id"] for v in listed) == sorted(channel["videos"])
    assert all("transcript" not in v for v in listed)

    # 5. per-video completion badges
    badges = client.get("/user/progress/channel", params={"channelId": channel["id"]}, headers=auth)
    assert badges.status_code == 200, badges.text
    assert badges.json()["channelId"] == channel["id"]

    first = channel["videos"][0]
    # 6-7. quota check, then register the video
    quota = client.get("/user/dictation_quota", params={"channelId": channel["id"], "videoId": first}, headers=auth)
    assert quota.status_code == 200, quota.text
    assert quota.json()["limit"] == 4 and quota.json()["canProceed"] is True and quota.json()["used"] == 0
    r = client.post("/user/register_dictation", json={"channelId": channel["id"], "videoId": first}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "success", r.text

    # 8. the uploaded transcript, readable within 2 s of the upload's 200 (here: long since)
    def transcript() -> Any:
        t = client.get(f"/service/video-transcript/{channel['id']}/{first}", headers=auth)
        return t if t.status_code == 200 else None

    t = poll(transcript, within_s=max(2.0 - (time.monotonic() - channel["uploaded_at"]), 0.5),
             what="uploaded transcript readable")
    lines = t.json()["transcript"]
    assert lines[0]["transcript"] == "Every morning I take a short walk in the park."
    assert lines[0]["start"] == pytest.approx(0.5) and lines[0]["end"] > lines[0]["start"]

    # 9-10. progress: registered → empty inputs; save, then restore
    key = {"channelId": channel["id"], "videoId": first}
    restored = client.get("/user/progress", params=key, headers=auth)
    assert restored.status_code == 200 and restored.json()["userInput"] == {}, restored.text
    save = {**key, "userInput": {"0": "every morning", "1": "the trees"}, "currentTime": int(time.time() * 1000),
            "overallCompletion": 33.33, "duration": 5}
    r = client.post("/user/progress", json=save, headers=auth)
    assert r.status_code == 200, r.text
    restored = client.get("/user/progress", params=key, headers=auth).json()
    assert restored["userInput"] == save["userInput"] and restored["overallCompletion"] == 33.33

    # 11. missed words, 12. player config, 13. all progress
    r = client.post("/user/missed-words", json={"words": ["morning", "trees"]}, headers=auth)
    assert r.status_code == 200 and sorted(r.json()["structured_missed_words"]["en"]) == ["morning", "trees"]
    config = {"playback_speed": 1.25, "auto_repeat": 2, "shortcuts": {"repeat": "Tab", "next": "Enter",
                                                                        "prev": "ControlLeft"}}
    r = client.post("/user/config", json={"dictation_config": config}, headers=auth)
    assert r.status_code == 200 and r.json()["config"]["dictation_config"]["playback_speed"] == 1.25, r.text
    everything = client.get("/user/all-progress", headers=auth)
    assert everything.status_code == 200
    assert [p["videoId"] for p in everything.json()["progress"]] == [first]

    # a free learner: videos 2-4 fit in the quota, the 5th is refused
    for video in channel["videos"][1:4]:
        r = client.post("/user/register_dictation", json={"channelId": channel["id"], "videoId": video},
                        headers=auth)
        assert r.status_code == 200, r.text
    fifth = {"channelId": channel["id"], "videoId": channel["videos"][4]}
    r = client.post("/user/register_dictation", json=fifth, headers=auth)
    assert r.status_code == 403 and r.json()["error"] == "Failed to register video, quota exceeded"
    quota = client.get("/user/dictation_quota", params=fifth, headers=auth).json()
    assert quota["canProceed"] is False and quota["used"] == 4
    refused = client.get(f"/service/video-transcript/{channel['id']}/{channel['videos'][4]}", headers=auth)
    assert refused.status_code == 403  # quota enforced on the server, not only in the browser

    # upgrade through a signed Stripe webhook → the plan shows in userinfo and lifts the quota (≤ 2 s)
    r = stripe_webhook(client, whole_system.webhook_secret, "checkout.session.completed", {
        "id": f"cs_test_{uuid.uuid4().hex[:16]}", "object": "checkout.session", "mode": "payment",
        "payment_status": "paid", "client_reference_id": user["user_id"],
        "metadata": {"user_id": user["user_id"], "plan": "Pro"},
        "amount_total": 4900, "currency": "cny", "payment_intent": f"pi_{uuid.uuid4().hex[:16]}"})
    assert r.status_code == 200, r.text
    upgraded_at = time.monotonic()
    poll(lambda: client.get(f"/auth/userinfo/{email}", headers=auth).json().get("plan", {}).get("name") == "Pro",
         within_s=2, what="plan shown by auth")
    poll(lambda: client.get("/user/dictation_quota", params=fifth, headers=auth).json()["limit"] == -1,
         within_s=max(2 - (time.monotonic() - upgraded_at), 0.2), what="quota lifted")
    r = client.post("/user/register_dictation", json=fifth, headers=auth)
    assert r.status_code == 200, r.text

    # logout: the old access token is refused by every service within 2 s
    assert client.post("/auth/logout", headers=auth).status_code == 200
    protected = {
        "auth": ("GET", "/user/config"),
        "catalog": ("GET", f"/service/video-list/{channel['id']}"),
        "transcripts": ("GET", f"/service/video-transcript/{channel['id']}/{first}"),
        "progress": ("GET", "/user/dictation_quota?channelId=c&videoId=v"),
        "billing": ("POST", "/payment/cancel-subscription"),
    }
    logged_out_at = time.monotonic()
    for service, (method, path) in protected.items():
        poll(lambda m=method, p=path: client.request(m, p, headers=auth).status_code == 401,
             within_s=max(2 - (time.monotonic() - logged_out_at), 0.2), what=f"{service} refuses the revoked token")
    # ...and directly at each service, not only through the gateway
    for service, url in whole_system.service_urls.items():
        method, path = protected[service]
        assert httpx.request(method, url + path, headers=auth).status_code == 401, service


def test_admin_edits_membership_through_progress_and_billing(
        whole_system: Any, client: httpx.Client, channel: dict[str, Any]) -> None:
    """The admin screen's "edit membership" (legacy POST /user/update-duration, routed to billing,
    which decides plans); auth and progress then show the plan."""
    email = f"member-{uuid.uuid4().hex[:8]}@e2e.test"
    learner = sign_in(client, whole_system, email, "Member")
    auth = bearer(learner["access"])
    assert client.post("/user/update-duration", json={"emails": [email], "duration": 30},
                       headers=auth).status_code == 403  # learners cannot give themselves a plan

    admin = bearer(channel["admin"]["access"])

    def edit() -> dict[str, Any] | None:
        """Billing learns of a new account from `user.registered`: until then it is "not found"."""
        r = client.post("/user/update-duration", json={"emails": [email, "nobody@e2e.test"], "duration": 30},
                        headers=admin)
        assert r.status_code == 200, r.text
        return r.json() if r.json()["message"] != "Updated 0 of 2 users" else None

    answer = poll(edit, within_s=2, what="the new learner known to billing")
    assert answer["message"] == "Updated 1 of 2 users"
    by_email = {row["email"]: row for row in answer["results"]}
    assert by_email[email]["success"] is True and by_email["nobody@e2e.test"]["success"] is False
    changed_at = time.monotonic()
    poll(lambda: client.get(f"/auth/userinfo/{email}", headers=auth).json().get("plan", {}).get("name") == "Basic",
         within_s=2, what="plan shown by auth")
    video = {"channelId": channel["id"], "videoId": channel["videos"][0]}
    poll(lambda: client.get("/user/dictation_quota", params=video, headers=auth).json()["limit"] == -1,
         within_s=max(2 - (time.monotonic() - changed_at), 0.2), what="quota lifted")
    assert client.post("/user/update-duration", json={"emails": [], "duration": 30},
                       headers=admin).json() == {"error": "No emails provided"}
