"""Demo data for `make dev`, written through the gateway like any client would.

An admin and a learner (passwords generated and printed once, on the run that creates them; the
admin's e-mail is in DS_AUTH_ADMIN_EMAILS, so registration makes it an Admin), two channels and
six videos with SRT transcripts from deploy/local/seed/ (the upload hands them to the transcripts
service through `video.published`). Running it again changes nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent / "seed"
ADMIN_EMAIL = "admin@dictation.local"
LEARNER_EMAIL = "learner@dictation.local"


def log(msg: str) -> None:
    print(f"[seed] {msg}", flush=True)


def register(client: httpx.Client, email: str, username: str) -> str | None:
    """Create the account; returns its new password, or None if it already existed."""
    password = secrets.token_urlsafe(12)
    r = client.post("/auth/register", json={"username": username, "email": email, "password": password})
    if r.status_code == 409 or (r.status_code == 400 and "exists" in r.text):
        return None
    r.raise_for_status()
    return password


def admin_token(client: httpx.Client, password: str) -> str:
    r = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": password})
    r.raise_for_status()
    return r.headers["x-ds-access-token"]


def seed_catalog(client: httpx.Client, token: str) -> None:
    catalog = json.loads((HERE / "catalog.json").read_text())
    auth = {"Authorization": f"Bearer {token}"}
    client.post("/service/channel", json={"channels": catalog["channels"]}, headers=auth).raise_for_status()
    items = [{"channel_id": v["channel_id"], "video_link": f"https://www.youtube.com/watch?v={v['video_id']}",
              "title": v["title"], "visibility": "public"} for v in catalog["videos"]]
    files = [("transcript_files", (f"{v['video_id']}.srt", (HERE / "transcripts" / f"{v['video_id']}.srt").read_bytes(),
                                   "application/x-subrip")) for v in catalog["videos"]]
    client.post("/service/video-list", data={"data": json.dumps(items)}, files=files,
                headers=auth).raise_for_status()
    log(f"{len(catalog['channels'])} channels, {len(items)} videos with transcripts")


def main(base_url: str, *, profile: str = "dev") -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        admin_password = register(client, ADMIN_EMAIL, "Admin")
        learner_password = register(client, LEARNER_EMAIL, "Learner")
        if admin_password is None:
            log("demo data already present (the passwords were printed when they were created)")
            return
        seed_catalog(client, admin_token(client, admin_password))
        time.sleep(0.5)
        log("demo accounts (shown once; sign in with e-mail and password):")
        log(f"  admin    {ADMIN_EMAIL}  {admin_password}")
        if learner_password:
            log(f"  learner  {LEARNER_EMAIL}  {learner_password}")
