"""Feedback: multipart with limits, UUID ids, owner-only reads, images by signed link, per-learner
caps, admin list and reply."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from auth_helpers import JPEG, PNG, IdentityProvider, bearer, make_admin, sign_in, unique_email
from ds_auth.settings import Settings
from ds_common.testing.kit import MovableClock
from fastapi import FastAPI

pytestmark = pytest.mark.integration



async def learner(client: httpx.AsyncClient, idp: IdentityProvider) -> tuple[str, str]:
    email = unique_email()
    return email, (await sign_in(client, idp, email)).headers["x-ds-access-token"]


def path_of(link: str, settings: Settings) -> str:
    """An image link as the test client requests it (links are absolute, for the browser)."""
    assert link.startswith(settings.public_base_url + "/user/feedback/images/")
    return link.removeprefix(settings.public_base_url)


async def test_submit_and_read_own_feedback_with_images(client: httpx.AsyncClient, idp: IdentityProvider,
                                                        settings: Settings, clock: MovableClock) -> None:
    email, token = await learner(client, idp)
    r = await client.post("/user/feedback", data={"message": "The player skips a line"},
                          files=[("images", ("a.png", PNG, "image/png")), ("images", ("b.jpg", JPEG, "image/jpeg"))],
                          headers=bearer(token))
    assert r.status_code == 200, r.text
    feedback = r.json()["feedback"]
    assert r.json()["message"] == "Feedback message submitted successfully"
    assert str(uuid.UUID(feedback["id"])) == feedback["id"]
    assert feedback["senderType"] == "user" and feedback["email"] == email and len(feedback["images"]) == 2
    thread = (await client.get("/user/feedback", headers=bearer(token))).json()
    assert isinstance(thread, list) and thread[-1]["message"] == "The player skips a line"
    png, jpeg = (path_of(link, settings) for link in thread[-1]["images"])
    # An <img> sends no token: the link itself is the permission, for this image only, for a while.
    shown = await client.get(png)
    assert shown.status_code == 200 and shown.content == PNG and shown.headers["content-type"] == "image/png"
    assert shown.headers["x-content-type-options"] == "nosniff" and "max-age=" in shown.headers["cache-control"]
    assert (await client.get(jpeg)).content == JPEG
    forged = png.replace("s=", "s=0")
    assert (await client.get(forged)).status_code == 403
    assert (await client.get(png.replace(png.split("/")[-1].split("?")[0], str(uuid.uuid4())))).status_code == 403
    clock.advance(timedelta(hours=3))
    try:
        expired = await client.get(png)
        assert expired.status_code == 403 and expired.json() == {"error": "Invalid or expired image link"}
    finally:
        clock.advance(-timedelta(hours=3))
    # What a browser's FormData sends without an attachment: multipart with the text field only.
    body = b'--XyZ\r\nContent-Disposition: form-data; name="message"\r\n\r\nno images\r\n--XyZ--\r\n'
    text_only = await client.post("/user/feedback", content=body, headers={
        **bearer(token), "Content-Type": "multipart/form-data; boundary=XyZ"})
    assert text_only.status_code == 200 and text_only.json()["feedback"]["images"] == []


async def test_feedback_limits(client: httpx.AsyncClient, idp: IdentityProvider) -> None:
    _, token = await learner(client, idp)
    too_big = PNG + b"\x00" * (2 * 1024 * 1024)
    r = await client.post("/user/feedback", data={"message": "big"},
                          files=[("images", ("a.png", too_big, "image/png"))], headers=bearer(token))
    assert r.status_code == 413 and set(r.json()) == {"error"}
    huge = await client.post("/user/feedback", data={"message": "huge"},
                             files=[("images", (f"{i}.png", too_big, "image/png")) for i in range(4)],
                             headers=bearer(token))
    assert huge.status_code == 413
    four = await client.post("/user/feedback", data={"message": "four"},
                             files=[("images", (f"{i}.png", PNG, "image/png")) for i in range(4)],
                             headers=bearer(token))
    assert four.status_code == 400
    svg = await client.post("/user/feedback", data={"message": "svg"},
                            files=[("images", ("x.png", b"<svg onload=alert(1)>", "image/png"))], headers=bearer(token))
    assert svg.status_code == 415
    empty = await client.post("/user/feedback", data={"message": "  "},
                              files=[("images", ("a.png", PNG, "image/png"))], headers=bearer(token))
    assert empty.status_code == 400 and empty.json() == {"error": "Feedback message is required"}
    as_json = await client.post("/user/feedback", json={"message": "hi"}, headers=bearer(token))
    assert as_json.status_code == 400
    assert (await client.post("/user/feedback", data={"message": "x"},
                              files=[("images", ("a.png", PNG, "image/png"))])).status_code == 401
    assert (await client.get("/user/feedback", headers=bearer(token))).json() == []


async def test_feedback_is_owner_only_and_admins_reply(client: httpx.AsyncClient, app: FastAPI,
                                                       idp: IdentityProvider, settings: Settings) -> None:
    victim_email, victim = await learner(client, idp)
    _, snoop = await learner(client, idp)
    await client.post("/user/feedback", data={"message": "private"}, files=[("images", ("a.png", PNG, "image/png"))],
                      headers=bearer(victim))
    peek = await client.get("/user/feedback", params={"userEmail": victim_email}, headers=bearer(snoop))
    assert peek.status_code == 403  # legacy W6: no admin check on userEmail
    assert (await client.get("/user/feedback/admin/list", headers=bearer(snoop))).status_code == 403
    assert (await client.post("/user/feedback/admin", json={"email": victim_email, "response": "x"},
                              headers=bearer(snoop))).status_code == 403

    _, boss = await make_admin(client, app, idp)
    senders = (await client.get("/user/feedback/admin/list", headers=bearer(boss))).json()
    assert senders[0]["email"] == victim_email and isinstance(senders[0]["timestamp"], int)
    reply = await client.post("/user/feedback/admin", json={"email": victim_email, "response": "Fixed, thanks"},
                              headers=bearer(boss))
    assert reply.status_code == 200 and reply.json()["feedback"]["senderType"] == "admin"
    assert reply.json()["feedback"]["sender"] == "The Admin"
    multipart = await client.post("/user/feedback/admin", data={"email": victim_email, "response": "See picture"},
                                  files=[("images", ("a.png", PNG, "image/png"))], headers=bearer(boss))
    assert multipart.status_code == 200, multipart.text
    ids = {reply.json()["feedback"]["id"], multipart.json()["feedback"]["id"]}
    assert len(ids) == 2  # UUIDs: two replies in one millisecond no longer collide (legacy W21)
    thread = (await client.get("/user/feedback", params={"userEmail": victim_email}, headers=bearer(boss))).json()
    assert [m["senderType"] for m in thread] == ["user", "admin", "admin"]
    assert (await client.get(path_of(thread[2]["images"][0], settings))).content == PNG
    own = (await client.get("/user/feedback", params={"userEmail": victim_email}, headers=bearer(victim))).json()
    assert own == thread
    assert senders[0]["emailVerified"] is True and all(m.get("emailVerified", True) for m in thread)
    missing = await client.post("/user/feedback/admin", json={"email": unique_email(), "response": "hello"},
                                headers=bearer(boss))
    assert missing.status_code == 404 and missing.json() == {"error": "User not found"}
    bad = await client.post("/user/feedback/admin", json={"email": victim_email}, headers=bearer(boss))
    assert bad.status_code == 400
    deep = await client.post("/user/feedback/admin", content='{"email":' + "[" * 5_000 + "]" * 5_000 + "}",
                             headers={**bearer(boss), "Content-Type": "application/json"})
    assert deep.status_code == 400 and deep.json() == {"error": "Invalid JSON body"}


async def test_one_learners_images_cost_others_nothing_and_are_capped(
        client: httpx.AsyncClient, idp: IdentityProvider, settings: Settings) -> None:
    """A thread carries links, not images: reading one with many large images is a few kilobytes,
    however often it is read; what a learner may store is bounded, also under concurrent uploads."""
    _, token = await learner(client, idp)
    big = PNG + b"\x00" * (settings.feedback_max_image_bytes - len(PNG))
    for i in range(2):
        sent = await client.post("/user/feedback", data={"message": f"screens {i}"},
                                 files=[("images", (f"{n}.png", big, "image/png")) for n in range(3)],
                                 headers=bearer(token))
        assert sent.status_code == 200, sent.text
    reads = await asyncio.gather(*(client.get("/user/feedback", headers=bearer(token)) for _ in range(8)))
    assert all(r.status_code == 200 and len(r.content) < 8_000 for r in reads)
    assert len([i for m in reads[0].json() for i in m["images"]]) == 6

    # The learner's allowance (20 MB) holds 9 such images: of 5 concurrent 3-image messages, one fits.
    answers = await asyncio.gather(*(
        client.post("/user/feedback", data={"message": f"more {n}"},
                    files=[("images", (f"{i}.png", big, "image/png")) for i in range(3)], headers=bearer(token))
        for n in range(5)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 4, [a.text for a in answers]
    assert "at most" in next(a for a in answers if a.status_code == 400).json()["error"]
    body = b'--XyZ\r\nContent-Disposition: form-data; name="message"\r\n\r\nwords still go through\r\n--XyZ--\r\n'
    text_only = await client.post("/user/feedback", content=body, headers={
        **bearer(token), "Content-Type": "multipart/form-data; boundary=XyZ"})
    assert text_only.status_code == 200
