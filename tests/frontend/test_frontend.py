"""The legacy front end's flows, called as it calls them (tests/frontend/frontend.py), through the
gateway against the whole system: new videos of a free learner, the sidebar switch, the 4th and
5th video, a tab kept open for hours, sign-in on every page load, the progress page and the admin
user table. Each check asserts the status and the fields the front end reads."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from frontend import Tab, identity_token

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
import system  # deploy/local holds scripts, not a package

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
QUOTA_EXCEEDED = "Failed to register video, quota exceeded"
OpenTab = Callable[..., Awaitable[Tab]]


async def eventually(check: Callable[[], Awaitable[Any]], *, within_s: float, what: str) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what}")
        await asyncio.sleep(0.1)


async def transcripts_ready(admin: Tab, channel: dict[str, Any]) -> None:
    async def ready() -> bool:
        answers = [await admin.call("GET", f"/service/video-transcript/{channel['id']}/{v}") for v in channel["videos"]]
        return all(a.status_code == 200 for a in answers)

    await eventually(ready, within_s=10, what="the uploaded transcripts are served")


def transcript_lines(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    lines: list[dict[str, Any]] = answer.json()["transcript"]
    assert lines and {"start", "end", "transcript"} <= set(lines[0])
    return lines


async def test_a_free_learner_opens_saves_and_switches_videos_as_the_dictation_page_does(
        tab: OpenTab, admin: Tab, channel: dict[str, Any]) -> None:
    await transcripts_ready(admin, channel)
    learner = await tab()
    c, videos = channel["id"], channel["videos"]

    # A new video: every call of the page at once, before the learner confirms.
    page = await learner.open_video(c, videos[0])
    assert {name: r.status_code for name, r in page.items()} == dict.fromkeys(page, 200)
    assert transcript_lines(page["transcript"]) == transcript_lines(page["transcript_title"])
    assert page["quota"].json() | {"startDate": 0, "endDate": 0} == {
        "used": 0, "limit": 4, "canProceed": True, "notifyQuota": True, "startDate": 0, "endDate": 0}
    assert page["progress"].json()["userInput"] == ""
    assert (await learner.proceed(c, videos[0])).status_code == 200
    assert (await learner.save(c, videos[0], {"0": "every morning"}, 12.5)).status_code == 200

    # The page's own sidebar: no modal, no register_dictation; the first save registers the video.
    for used, video in enumerate(videos[1:4], start=1):
        page = await learner.open_video(c, video)
        assert page["quota"].json()["used"] == used and page["quota"].json()["canProceed"] is True
        transcript_lines(page["transcript"])
        saved = await learner.save(c, video, {"0": "a sentence"}, 5)
        assert saved.status_code == 200, saved.text

    # The 5th video: the quota is full, on the server.
    fifth = await learner.open_video(c, videos[4])
    assert fifth["quota"].json()["used"] == 4 and fifth["quota"].json()["canProceed"] is False
    assert fifth["transcript"].status_code == 403 and "quota" in fifth["transcript"].json()["error"]
    refused = await learner.proceed(c, videos[4])
    assert refused.status_code == 403 and refused.json() == {"error": QUOTA_EXCEEDED}
    not_saved = await learner.save(c, videos[4], {"0": "no"}, 1)
    assert not_saved.status_code == 403 and not_saved.json() == {"error": QUOTA_EXCEEDED}

    # Re-opening a started video is free: no modal, the transcript and the inputs come back.
    again = await learner.open_video(c, videos[0])
    assert again["quota"].json()["notifyQuota"] is False and transcript_lines(again["transcript"])
    assert again["progress"].json()["userInput"] == {"0": "every morning"}


async def test_a_tab_kept_open_for_hours_keeps_its_session(whole_system: Any, tab: OpenTab) -> None:
    learner = await tab()
    signed_in_as, first_refresh_token = learner.user, learner.refresh
    grace_s = float(whole_system.env["DS_AUTH_REFRESH_GRACE_S"])
    for hour in range(3):
        learner.later(3600)  # an access-token lifetime later: fewer than 600 s left
        answers = await asyncio.gather(*(learner.call("GET", "/user/config") for _ in range(5)))
        assert [a.status_code for a in answers] == [200] * 5, (hour, [a.text for a in answers])
        burst, learner.refreshes = learner.refreshes, []
        assert len(burst) == 5 and [r.status_code for r in burst] == [200] * 5, [r.text for r in burst]
        for refreshed in burst:  # what the front end stores: the body as the user, the access token
            assert "x-ds-access-token" in refreshed.headers
            assert refreshed.json() == signed_in_as
        assert learner.refresh == first_refresh_token  # the front end never adopts a rotated token
        await asyncio.sleep(grace_s + 0.5)  # past the server's grace after these refreshes
    assert (await learner.load_page()).json()["user"] == signed_in_as


async def test_sign_in_on_every_page_load_and_focus_never_sees_429(tab: OpenTab) -> None:
    learner = await tab()
    codes = [(await learner.load_page()).status_code for _ in range(60)]
    assert codes == [200] * 60


async def test_password_guesses_do_not_lock_out_an_identity_sign_in(whole_system: Any,
                                                                    http: httpx.AsyncClient) -> None:
    email = f"victim-{secrets.token_hex(5)}@frontend.test"
    for _ in range(12):
        guess = await http.post("/auth/login", json={"email": email, "password": "not-the-password"})
        assert guess.status_code in (401, 429)
    victim = Tab(http, identity_token(whole_system, email), email)
    assert (await victim.load_page()).status_code == 200


async def test_the_progress_page_shows_the_catalogs_names(tab: OpenTab, admin: Tab, channel: dict[str, Any]) -> None:
    await transcripts_ready(admin, channel)
    learner = await tab()
    c, video = channel["id"], channel["videos"][5]
    assert (await learner.proceed(c, video)).status_code == 200
    assert (await learner.save(c, video, {"0": "the park"}, 20)).status_code == 200

    async def listed() -> dict[str, Any] | None:
        entries = (await learner.call("GET", "/user/all-progress")).json()["progress"]
        return entries[0] if entries and entries[0]["channelName"] else None

    entry = await eventually(listed, within_s=5, what="names in all-progress")
    assert entry == {"channelId": c, "channelName": channel["name"], "videoId": video, "videoTitle": "Lesson 5",
                     "videoLink": f"https://www.youtube.com/watch?v={video}", "overallCompletion": 20}


async def test_the_admin_user_table_shows_activity_and_each_learners_progress(
        tab: OpenTab, admin: Tab, channel: dict[str, Any]) -> None:
    await transcripts_ready(admin, channel)
    learner = await tab()
    c, video = channel["id"], channel["videos"][0]
    assert (await learner.proceed(c, video)).status_code == 200
    saved_at_ms = int(time.time() * 1000)
    assert (await learner.save(c, video, {"0": "every", "1": "morning I take"}, 40)).status_code == 200

    async def row() -> dict[str, Any] | None:
        cursor = None
        while True:
            page = await admin.call("GET", "/user/all", params={"limit": 500, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            found = [u for u in page.json()["users"] if u["email"] == learner.email]
            if found or page.json()["next_cursor"] is None:
                return found[0] if found and found[0]["dictation_progress"] else None
            cursor = page.json()["next_cursor"]

    user = await eventually(row, within_s=15, what="the learner's activity in /user/all")
    # What the table computes: "Active" (a typed sentence) and "Last active" (the newest currentTime).
    entries = list(user["dictation_progress"].values())
    assert any(text.strip() for e in entries for text in e["userInput"].values())
    assert abs(max(e["currentTime"] for e in entries) - saved_at_ms) < 10_000
    assert {"created_at", "updated_at", "plan", "role", "username", "email"} <= set(user)

    # "View progress": the learner's progress by e-mail, and the admin's own.
    viewed = await admin.call("GET", "/user/all-progress", params={"userEmail": learner.email})
    assert viewed.status_code == 200, viewed.text
    assert [(p["videoId"], p["overallCompletion"]) for p in viewed.json()["progress"]] == [(video, 40)]
    own = await admin.call("GET", "/user/all-progress", params={"userEmail": admin.email})
    assert own.status_code == 200, own.text


async def test_seeded_accounts_keep_their_password_after_an_identity_sign_in(
        whole_system: Any, http: httpx.AsyncClient) -> None:
    email, password = f"operator-{secrets.token_hex(4)}@frontend.test", secrets.token_urlsafe(12)
    command = [sys.executable, "-m", "ds_auth", "create-account", email, "--username", "Op"]
    created = await asyncio.to_thread(subprocess.run, command, input=password + "\n", env=system.operator_env("test"),
                                      capture_output=True, text=True, check=True)
    assert created.stdout.strip() == "created"
    by_password = await http.post("/auth/login", json={"email": email, "password": password})
    assert by_password.status_code == 200, by_password.text
    assert (await Tab(http, identity_token(whole_system, email), email).load_page()).status_code == 200
    again = await http.post("/auth/login", json={"email": email, "password": password})
    assert again.status_code == 200, again.text


async def test_a_learner_buys_a_plan_with_zpay(whole_system: Any, tab: OpenTab, channel: dict[str, Any]) -> None:
    """The upgrade page: history, "Pay" (an order, ZPay's page in a pop-up), then polling the order
    until ZPay's notify (through the gateway) has paid it; the plan reaches auth and progress."""
    learner = await tab()
    assert (await learner.call("GET", "/payment/zpay/history")).json() == {"orders": [], "count": 0}
    created = await learner.call("POST", "/payment/zpay/create-order",
                                 json={"plan": "Pro", "duration": 90, "payType": "alipay"})
    assert created.status_code == 200, created.text
    order_id, payment_url = created.json()["orderId"], created.json()["paymentUrl"]
    async with httpx.AsyncClient(timeout=10) as popup:  # the learner pays on ZPay's page
        page = await popup.get(payment_url)
        assert page.status_code == 200 and "49.00" in page.text
        paid = await popup.post(payment_url.split("/submit.php")[0] + "/pay",
                                data={"out_trade_no": order_id, "outcome": "TRADE_SUCCESS"})
        assert paid.status_code == 303 and "trade_status=TRADE_SUCCESS" in paid.headers["location"]

    async def polled() -> dict[str, Any] | None:
        answer = (await learner.call("GET", f"/payment/zpay/order-status/{order_id}")).json()
        return answer if answer["status"] != "pending" else None

    status = await eventually(polled, within_s=10, what="the order paid by ZPay's notify")
    assert status["status"] == "paid" and status["userInfo"]["plan"]["name"] == "Pro"
    paid_at = time.monotonic()

    async def plan_everywhere() -> bool:
        user = (await learner.load_page()).json()["user"]
        quota = (await learner.call("GET", "/user/dictation_quota",
                                    params={"channelId": channel["id"], "videoId": channel["videos"][0]})).json()
        return user["plan"]["name"] == "Pro" and quota["limit"] == -1

    await eventually(plan_everywhere, within_s=2, what="the plan shown by auth and lifting the quota")
    assert time.monotonic() - paid_at < 2
    history = (await learner.call("GET", "/payment/zpay/history")).json()
    assert [(o["orderId"], o["status"], o["amount"]) for o in history["orders"]] == [(order_id, "paid", "49.00")]
