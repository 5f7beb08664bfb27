"""Demo data for `make dev`: an admin and a learner, two channels and six videos with SRT transcripts
from deploy/local/seed/ (the upload hands them to the transcripts service through `video.published`).

The accounts are the operator's own, created with auth's operator command (`python -m ds_auth
create-account`, proven addresses: a later identity-token sign-in keeps their passwords), with
passwords generated and printed once, on the run that creates them. The catalogue goes through the
gateway like any client. Running it again changes nothing.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent / "seed"
ADMIN_EMAIL = "admin@dictation.local"
LEARNER_EMAIL = "learner@dictation.local"


def log(msg: str) -> None:
    print(f"[seed] {msg}", flush=True)


def create_account(env: Mapping[str, str], email: str, username: str, role: str) -> str | None:
    """Create the account; returns its new password, or None if it already existed."""
    password = secrets.token_urlsafe(12)
    done = subprocess.run([sys.executable, "-m", "ds_auth", "create-account", email, "--username", username,
                           "--role", role], input=password + "\n", env={**env}, capture_output=True, text=True,
                          check=True)
    return password if done.stdout.strip() == "created" else None


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


def main(base_url: str, env: Mapping[str, str]) -> None:
    """`env`: the auth service's settings (its store), for the operator command."""
    admin_password = create_account(env, ADMIN_EMAIL, "Admin", "Admin")
    learner_password = create_account(env, LEARNER_EMAIL, "Learner", "User")
    if admin_password is None:
        log("demo data already present (the passwords were printed when they were created)")
        return
    with httpx.Client(base_url=base_url, timeout=30) as client:
        seed_catalog(client, admin_token(client, admin_password))
    time.sleep(0.5)
    log("demo accounts (shown once; sign in with e-mail and password):")
    log(f"  admin    {ADMIN_EMAIL}  {admin_password}")
    if learner_password:
        log(f"  learner  {LEARNER_EMAIL}  {learner_password}")
