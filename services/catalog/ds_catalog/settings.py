"""Catalog settings: `DS_CATALOG_<FIELD>`, falling back to the shared `DS_<FIELD>`."""

from __future__ import annotations

from ds_common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("CATALOG")

    service_name: str = "catalog"
    mongo_db: str = "catalog"

    # Upload limits (POST /service/video-list). One SRT travels inside one `video.published`
    # event (lines + original text, ~2.5x the file), which must stay under Kafka's 1 MiB default.
    max_upload_bytes: int = 16 * 1024 * 1024
    max_srt_bytes: int = 300 * 1024
    max_videos_per_upload: int = 100
    # Lists are bounded (legacy W17): the public channel list and each channel's video list.
    max_channels: int = 1000
    max_videos_per_channel: int = 5000
    max_admin_list: int = 1000
    # Per-user write budgets for the learner-facing submissions (recommendations, error reports).
    submissions_per_hour: int = 30
