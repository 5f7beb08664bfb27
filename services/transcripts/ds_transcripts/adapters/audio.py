"""The audio a speech-to-text job reads: an admin's upload, kept in the store until the job ends
(the worker may run on another host), or the video's best audio stream fetched by yt-dlp.

Uploads are kept as 1 MiB chunks, `_id = "<job_id>:<n>"` (read by `_id` only: no query ever
scans them), and deleted when the job ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import yt_dlp
from bson import Binary
from ds_common.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

AUDIO = "stt_audio"
CHUNK_BYTES = 1 << 20


class AudioRejected(Exception):
    """Not a file type the decoder reads (checked from its first bytes)."""


class AudioTooLarge(Exception):
    pass


class AudioNotFetched(Exception):
    """yt-dlp could not fetch the video's audio (retryable: networks and YouTube come back)."""


def audio_type(head: bytes) -> str:
    """The container, from the magic bytes; what PyAV decodes without a system ffmpeg."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    raise AudioRejected("Unsupported audio type: upload WAV, MP3, M4A/MP4, WebM, Ogg or FLAC")


class AudioStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.coll = db[AUDIO]

    async def put(self, job_id: str, chunks: AsyncIterator[bytes], *, max_bytes: int) -> dict[str, Any]:
        """Store an upload as it arrives; returns what the job records of it. Nothing is left
        behind when it is refused."""
        size, count, kind = 0, 0, ""
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                if count == 0:
                    kind = audio_type(chunk[:16])
                size += len(chunk)
                if size > max_bytes:
                    raise AudioTooLarge(f"Audio files are limited to {max_bytes // (1 << 20)} MiB")
                await self.coll.insert_one({"_id": f"{job_id}:{count}", "data": Binary(chunk)})
                count += 1
        except BaseException:
            await self.delete(job_id, count)
            raise
        if count == 0:
            raise AudioRejected("The audio file is empty")
        return {"kind": "upload", "type": kind, "bytes": size, "chunks": count}

    async def write_to(self, job_id: str, chunks: int, path: Path) -> None:
        with path.open("wb") as out:
            for n in range(chunks):
                doc = await self.coll.find_one({"_id": f"{job_id}:{n}"})
                if doc is None:
                    raise FileNotFoundError(f"chunk {n} of the upload of job {job_id} is missing")
                await asyncio.to_thread(out.write, doc["data"])

    async def delete(self, job_id: str, chunks: int) -> None:
        for n in range(chunks):
            await self.coll.delete_one({"_id": f"{job_id}:{n}"})

    async def discard(self, job_id: str, audio: Mapping[str, Any]) -> None:
        """Drop a job's audio if it was uploaded (`audio`: what the job records of it)."""
        if audio.get("kind") == "upload":
            await self.delete(job_id, int(audio.get("chunks", 0)))


def download_audio(link: str, into: Path, *, timeout_s: float, proxy_url: str | None = None,
                   cookie_file: str | None = None) -> Path:
    """Blocking (run it in a thread): the best audio-only stream, as served (M4A or WebM, which
    the decoder reads; no conversion)."""
    options: dict[str, Any] = {"format": "bestaudio/best", "outtmpl": str(into / "audio.%(ext)s"), "quiet": True,
                               "no_warnings": True, "noprogress": True, "socket_timeout": timeout_s,
                               "noplaylist": True, "max_filesize": 500 << 20}
    if proxy_url:
        options["proxy"] = proxy_url
    if cookie_file:
        options["cookiefile"] = cookie_file
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(link, download=True)
            path = Path(ydl.prepare_filename(info))
    except yt_dlp.utils.DownloadError as exc:
        raise AudioNotFetched(str(exc)[:300]) from exc
    if not path.is_file():
        raise AudioNotFetched("yt-dlp wrote no audio file")
    return path
