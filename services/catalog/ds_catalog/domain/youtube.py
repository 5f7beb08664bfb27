"""Video ids from the links an admin pastes (watch, youtu.be, embed, shorts, live)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ds_common.ids import is_youtube_id

_YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
                  "youtube-nocookie.com", "www.youtube-nocookie.com")
_PATH_PREFIXES = ("embed", "shorts", "live", "v")


def video_id_from_link(link: str) -> str | None:
    """The video id in a YouTube link, or None when the link names none."""
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    candidate: str | None = None
    if host in ("youtu.be", "www.youtu.be"):
        candidate = segments[0] if segments else None
    elif host in _YOUTUBE_HOSTS:
        if segments[:1] == ["watch"]:
            values = parse_qs(parts.query).get("v")
            candidate = values[0] if values else None
        elif len(segments) >= 2 and segments[0] in _PATH_PREFIXES:
            candidate = segments[1]
    return candidate if is_youtube_id(candidate) else None
