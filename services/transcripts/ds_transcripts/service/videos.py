"""The catalog's video events applied to the transcripts (the rules: domain/transcript.py).

Each is one quick versioned write; slow work (YouTube) is queued (`enqueue`, which never waits) for
the consumer's prefetch worker. Redelivery is a no-op: the applied event ids are kept in the
document.
"""

from __future__ import annotations

from collections.abc import Callable

from ds_common.events.contracts import VideoPublished, VideoRemoved, VideoUpdated
from ds_common.events.envelope import Envelope

from ds_transcripts.domain import transcript
from ds_transcripts.service.transcripts import Transcripts

Enqueue = Callable[[str, str], None]


class VideoEvents:
    def __init__(self, transcripts: Transcripts, enqueue: Enqueue) -> None:
        self.transcripts = transcripts
        self.store = transcripts.store
        self.enqueue = enqueue

    async def published(self, data: VideoPublished, event: Envelope) -> None:
        """An uploaded SRT is stored at once (→ `transcript.ready`); otherwise the video is recorded
        as `pending` and queued for a background fetch."""
        now = self.transcripts.clock.now()
        written = await self.store.mutate(data.channel_id, data.video_id,
                                          lambda doc: transcript.published(doc, data, event, now))
        await self.transcripts.after_write(written.document)
        if written.changed and (written.document or {}).get("status") == "pending":
            self.enqueue(data.channel_id, data.video_id)

    async def updated(self, data: VideoUpdated, event: Envelope) -> None:
        written = await self.store.mutate(data.channel_id, data.video_id,
                                          lambda doc: transcript.updated(doc, data, event))
        await self.transcripts.after_write(written.document)

    async def removed(self, data: VideoRemoved, event: Envelope) -> None:
        written = await self.store.mutate(data.channel_id, data.video_id, lambda doc: transcript.removed(doc, event))
        await self.transcripts.after_write(written.document)
