"""A client that calls the backend the way the legacy React front end does (its observed behaviour,
described in the README's front-end section), through the gateway:

- sign-in and every page load or tab focus: `POST /auth/userinfo` with the identity token in
  `X-Identity-Token` and `{email, username, avatar}`; `body.user` becomes the user;
- every other call: `Authorization: Bearer <access>`; any answer carrying `x-ds-access-token` or
  `x-ds-refresh-token` overwrites the stored token, EXCEPT the refresh answer, of which only the
  access token is kept: the refresh token stays the one from sign-in for the life of the tab;
- before each call, when the access token has less than 600 s left, a refresh first
  (`POST /auth/refresh-token`, the refresh token as Bearer), its body becoming the user. The calls
  of one page go out together, so one page sends several refreshes at once with the same token;
- opening a video sends all of the dictation page's calls at once, before any confirmation.

The client's clock can be moved forward (`later`), to act as a tab an hour older would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

REFRESH_MARGIN_S = 600


def identity_token(system: Any, email: str, name: str = "Learner") -> str:
    """A Supabase access token for a verified address, as Supabase signs it."""
    now = int(time.time())
    claims = {"iss": system.supabase_issuer, "aud": "authenticated", "sub": str(uuid.uuid4()), "email": email,
              "role": "authenticated", "iat": now, "exp": now + 3600,
              "user_metadata": {"email_verified": True, "full_name": name, "avatar_url": "https://a.test/x.png"}}
    return jwt.encode(claims, system.supabase_secret, algorithm="HS256")


@dataclass
class Tab:
    """One browser tab of the front end, signed in as one person."""

    http: httpx.AsyncClient
    identity_token: str
    email: str
    username: str = "Learner"
    avatar: str = "https://avatar.test/a.png"
    access: str | None = None
    refresh: str | None = None
    user: Any = None
    clock_offset_s: float = 0.0
    refreshes: list[httpx.Response] = field(default_factory=list)

    def later(self, seconds: float) -> None:
        """Move this tab's clock forward (the browser's Date.now())."""
        self.clock_offset_s += seconds

    # --- session --------------------------------------------------------------------------------
    async def load_page(self) -> httpx.Response:
        """Every full page load and every focus: sign in again with the identity token."""
        r = await self.http.post("/auth/userinfo", json={"email": self.email, "username": self.username,
                                                         "avatar": self.avatar},
                                 headers={"X-Identity-Token": self.identity_token})
        if r.status_code == 200:
            self.user = r.json()["user"]
        self._keep_tokens(r)
        return r

    async def _refresh_if_due(self) -> None:
        if self.access is None:
            return
        exp = jwt.decode(self.access, options={"verify_signature": False})["exp"]
        if exp - (time.time() + self.clock_offset_s) >= REFRESH_MARGIN_S:
            return
        r = await self.http.post("/auth/refresh-token", headers={"Authorization": f"Bearer {self.refresh}"})
        self.refreshes.append(r)
        self.user = r.json()  # the front end stores the body as the user, whatever it is
        if "x-ds-access-token" not in r.headers:
            raise RuntimeError("No access token in response headers")
        self.access = r.headers["x-ds-access-token"]  # and nothing else of the refresh answer

    def _keep_tokens(self, r: httpx.Response) -> None:
        if r.status_code < 400:  # the axios interceptor runs on successful answers
            self.access = r.headers.get("x-ds-access-token", self.access)
            self.refresh = r.headers.get("x-ds-refresh-token", self.refresh)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        await self._refresh_if_due()
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {self.access}"} if self.access else {})}
        r = await self.http.request(method, path, headers=headers, **kwargs)
        self._keep_tokens(r)
        return r

    # --- pages ----------------------------------------------------------------------------------
    async def open_video(self, channel_id: str, video_id: str) -> dict[str, httpx.Response]:
        """The dictation page: every call at once, before the learner confirms anything."""
        key = {"channelId": channel_id, "videoId": video_id}
        calls = {
            "quota": self.call("GET", "/user/dictation_quota", params=key),
            "transcript": self.call("GET", f"/service/video-transcript/{channel_id}/{video_id}"),
            "transcript_title": self.call("GET", f"/service/video-transcript/{channel_id}/{video_id}"),
            "videos": self.call("GET", f"/service/video-list/{channel_id}", params={"visibility": "public"}),
            "badges": self.call("GET", "/user/progress/channel", params={"channelId": channel_id}),
            "channels": self.call("GET", "/service/channel", params={"visibility": "all", "language": "all"}),
            "progress": self.call("GET", "/user/progress", params=key),
        }
        answers = await asyncio.gather(*calls.values())
        return dict(zip(calls, answers, strict=True))

    async def proceed(self, channel_id: str, video_id: str) -> httpx.Response:
        """"Proceed" in the quota modal (and the first keystroke)."""
        return await self.call("POST", "/user/register_dictation", json={"channelId": channel_id,
                                                                         "videoId": video_id})

    async def save(self, channel_id: str, video_id: str, inputs: dict[str, str], completion: float,
                   duration: int = 30) -> httpx.Response:
        return await self.call("POST", "/user/progress", json={
            "channelId": channel_id, "videoId": video_id, "userInput": inputs,
            "currentTime": int((time.time() + self.clock_offset_s) * 1000), "overallCompletion": completion,
            "duration": duration})
