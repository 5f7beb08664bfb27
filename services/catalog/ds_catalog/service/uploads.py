"""The admin's upload of videos with SRT transcripts (POST /service/video-list).

The api parses every SRT file before this runs (a bad file refuses the whole upload). Each
accepted video is stored with its `video.published` event in one write, and the relay is nudged
at once; the event carries the parsed lines and the original text, so the transcripts service
stores them from the event (no internal call): catalog never depends on transcripts being up,
and a transcript becomes readable about as fast as the relay and one consumer hop take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ds_common.clock import Clock

from ds_catalog.adapters.cache import CHANNELS, POOL, ReadCache, videos_scope
from ds_catalog.adapters.catalog_repo import TRANSCRIPT_GUARDS_RESET, CatalogRepo
from ds_catalog.domain import uploads, videos
from ds_catalog.domain.uploads import Transcript, UploadRequest, UploadResult
from ds_catalog.domain.values import video_key
from ds_catalog.domain.youtube import video_id_from_link


class Uploads:
    def __init__(self, catalog: CatalogRepo, cache: ReadCache, clock: Clock) -> None:
        self.catalog = catalog
        self.cache = cache
        self.clock = clock

    async def upload(self, items: Sequence[UploadRequest], transcripts: Mapping[str, Transcript]) -> list[UploadResult]:
        """Store each acceptable item; a result per item, sorted by video id. A video already in
        the channel is a duplicate (and listed again, which heals an interrupted upload)."""
        channels = {cid: await self.catalog.channel_docs.get(cid) for cid in {i.channel_id for i in items}}
        ids = [(item, video_id_from_link(item.video_link)) for item in items]
        stored = await self.catalog.video_states([video_key(i.channel_id, v) for i, v in ids if v])
        results: list[UploadResult] = []
        listed: dict[str, list[str]] = {}  # channel -> video ids to (re)list, new or duplicate
        public: dict[str, list[str]] = {}  # channel -> the new public ones
        for item, video_id in ids:
            channel = channels.get(item.channel_id)
            exists = video_id is not None and (videos.is_live(stored.get(video_key(item.channel_id, video_id)))
                                               or video_id in listed.get(item.channel_id, ()))
            transcript = transcripts.get(video_id) if video_id else None
            result = uploads.refusal(item, video_id, channel_known=channel is not None, exists=exists,
                                     transcript=transcript)
            if result is None:
                assert channel is not None and video_id is not None and transcript is not None  # refusal's checks
                result = await self._publish(item, video_id, channel.get("language", "en"), transcript)
                if result.success:
                    listed.setdefault(item.channel_id, []).append(video_id)
                    if item.visibility == "public":
                        public.setdefault(item.channel_id, []).append(video_id)
            elif result.duplicate and video_id is not None:
                listed.setdefault(item.channel_id, []).append(video_id)
            results.append(result)
        for channel_id, video_ids in listed.items():
            await self.catalog.add_videos_to_channel(channel_id, video_ids, public.get(channel_id, ()))
        if listed:
            await self.cache.invalidate(CHANNELS, POOL, *(videos_scope(c) for c in listed))
        results.sort(key=lambda r: r.video_id or "")
        return results

    async def _publish(self, item: UploadRequest, video_id: str, language: str, transcript: Transcript) -> UploadResult:
        """Store the video with `video.published`; a duplicate if it became live meanwhile."""
        state, event = uploads.published(item, video_id, language, transcript, self.clock.now())
        written = await self.catalog.video_docs.mutate(video_key(item.channel_id, video_id),
                                                       videos.publish({**state, **TRANSCRIPT_GUARDS_RESET}, event))
        return uploads.uploaded(video_id, transcript) if written.changed else uploads.duplicate(video_id)
