"""The admin's upload of videos with SRT transcripts (POST /service/video-list).

The api parses every SRT file before this runs (a bad file refuses the whole upload). Each
accepted video is stored with its `video.published` event in one write, and the relay is nudged
at once; the event carries the parsed lines, so the transcripts service
stores them from the event (no internal call): catalog never depends on transcripts being up,
and a transcript becomes readable about as fast as the relay and one consumer hop take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ds_common.clock import Clock
from ds_common.mongo import Document
from ds_common.versioned import Decide

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
        the channel is a duplicate (and listed again, which heals an interrupted upload). Videos
        never seen before are created together in one insert; a deleted one is revived in place."""
        channels = {cid: await self.catalog.channel_docs.get(cid) for cid in {i.channel_id for i in items}}
        ids = [(item, video_id_from_link(item.video_link)) for item in items]
        stored = await self.catalog.video_states([video_key(i.channel_id, v) for i, v in ids if v])
        results: dict[int, UploadResult] = {}
        new: dict[str, tuple[int, UploadRequest, str, Transcript]] = {}  # video key -> what to create
        revived: list[tuple[int, UploadRequest, str, Transcript]] = []
        seen: set[str] = set()
        for n, (item, video_id) in enumerate(ids):
            channel = channels.get(item.channel_id)
            key = video_key(item.channel_id, video_id) if video_id else ""
            exists = video_id is not None and (videos.is_live(stored.get(key)) or key in seen)
            transcript = transcripts.get(video_id) if video_id else None
            refused = uploads.refusal(item, video_id, channel_known=channel is not None, exists=exists,
                                      transcript=transcript)
            if refused is not None:
                results[n] = refused
                continue
            assert channel is not None and video_id is not None and transcript is not None  # refusal's checks
            seen.add(key)
            task = (n, item, video_id, transcript)
            if key in stored:
                revived.append(task)
            else:
                new[key] = task
        creations = {key: self._publication(item, video_id, channels, transcript)(None)  # decided on "absent"
                     for key, (_, item, video_id, transcript) in new.items()}
        created = await self.catalog.video_docs.create_many({k: c for k, c in creations.items() if c is not None})
        for key, (n, _, video_id, transcript) in new.items():
            if key in created:
                results[n] = uploads.uploaded(video_id, transcript)
            else:  # created by someone else meanwhile: decide on what is there
                revived.append(new[key])
        for n, item, video_id, transcript in revived:
            results[n] = await self._publish(item, video_id, channels, transcript)
        await self._list(ids, results)
        return [r for _, r in sorted(results.items(), key=lambda nr: (nr[1].video_id or "", nr[0]))]

    async def _list(self, ids: Sequence[tuple[UploadRequest, str | None]], results: Mapping[int, UploadResult]) -> None:
        """List the uploaded videos (and the duplicates again) in their channels."""
        listed: dict[str, list[str]] = {}  # channel -> video ids to (re)list, new or duplicate
        public: dict[str, list[str]] = {}  # channel -> the new public ones
        for n, (item, video_id) in enumerate(ids):
            result = results[n]
            if video_id is None or not (result.success or result.duplicate):
                continue
            listed.setdefault(item.channel_id, []).append(video_id)
            if result.success and item.visibility == "public":
                public.setdefault(item.channel_id, []).append(video_id)
        for channel_id, video_ids in listed.items():
            await self.catalog.add_videos_to_channel(channel_id, video_ids, public.get(channel_id, ()))
        if listed:
            await self.cache.invalidate(CHANNELS, POOL, *(videos_scope(c) for c in listed))

    def _publication(self, item: UploadRequest, video_id: str, channels: Mapping[str, Document | None],
                     transcript: Transcript) -> Decide:
        channel = channels[item.channel_id] or {}
        state, event = uploads.published(item, video_id, channel.get("language", "en"), transcript, self.clock.now())
        return videos.publish({**state, **TRANSCRIPT_GUARDS_RESET}, event)

    async def _publish(self, item: UploadRequest, video_id: str, channels: Mapping[str, Document | None],
                       transcript: Transcript) -> UploadResult:
        """Store the video with `video.published` (reviving a deleted one); a duplicate if it
        became live meanwhile."""
        written = await self.catalog.video_docs.mutate(video_key(item.channel_id, video_id),
                                                       self._publication(item, video_id, channels, transcript))
        return uploads.uploaded(video_id, transcript) if written.changed else uploads.duplicate(video_id)
