"""Feedback: multipart with limits, UUID ids, owner-only reads, admin list and reply."""

from __future__ import annotations

import uuid

import httpx
import pytest
from auth_helpers import IdentityProvider, bearer, sign_in, unique_email
from fastapi import FastAPI

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


async def learner(client: httpx.AsyncClient, idp: IdentityProvider) -> tuple[str, str]:
    email = unique_email()
    return email, (await sign_in(client, idp, email)).headers["x-ds-access-token"]


async def admin(client: httpx.AsyncClient, app: FastAPI, idp: IdentityProvider) -> str:
    email = unique_email("admin")
    user_id = (await sign_in(client, idp, email, name="The Admin")).json()["user"]["user_id"]
    await app.state.ctx.users.update(user_id, {"role": "Admin"})
    return (await sign_in(client, idp, email, name="The Admin")).headers["x-ds-access-token"]


async def test_submit_and_read_own_feedback_with_images(client: httpx.AsyncClient, idp: IdentityProvider) -> None:
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
    assert thread[-1]["images"][0].startswith("data:image/png;base64,")
    assert thread[-1]["images"][1].startswith("data:image/jpeg;base64,")
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
                                                       idp: IdentityProvider) -> None:
    victim_email, victim = await learner(client, idp)
    _, snoop = await learner(client, idp)
    await client.post("/user/feedback", data={"message": "private"}, files=[("images", ("a.png", PNG, "image/png"))],
                      headers=bearer(victim))
    peek = await client.get("/user/feedback", params={"userEmail": victim_email}, headers=bearer(snoop))
    assert peek.status_code == 403  # legacy W6: no admin check on userEmail
    assert (await client.get("/user/feedback/admin/list", headers=bearer(snoop))).status_code == 403
    assert (await client.post("/user/feedback/admin", json={"email": victim_email, "response": "x"},
                              headers=bearer(snoop))).status_code == 403

    boss = await admin(client, app, idp)
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
    assert thread[2]["images"][0].startswith("data:image/png;base64,")
    own = (await client.get("/user/feedback", params={"userEmail": victim_email}, headers=bearer(victim))).json()
    assert own == thread
    missing = await client.post("/user/feedback/admin", json={"email": unique_email(), "response": "hello"},
                                headers=bearer(boss))
    assert missing.status_code == 404 and missing.json() == {"error": "User not found"}
    bad = await client.post("/user/feedback/admin", json={"email": victim_email}, headers=bearer(boss))
    assert bad.status_code == 400
    deep = await client.post("/user/feedback/admin", content='{"email":' + "[" * 5_000 + "]" * 5_000 + "}",
                             headers={**bearer(boss), "Content-Type": "application/json"})
    assert deep.status_code == 400 and deep.json() == {"error": "Invalid JSON body"}
