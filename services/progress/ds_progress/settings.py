"""Progress settings: `DS_PROGRESS_<FIELD>`, falling back to the shared `DS_<FIELD>`."""

from __future__ import annotations

from ds_common.settings import ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("PROGRESS")

    service_name: str = "progress"
    mongo_db: str = "progress"
    consumer_group: str = "progress"
    # Free plan: this many distinct videos per cycle of this many days (domain/quota.py).
    free_videos_per_cycle: int = 4
    cycle_days: int = 30
    # A free learner whose cycle has room may read the transcripts of this many distinct videos a
    # (UTC) day before registering them (the front end loads the transcript before the learner
    # confirms); registered videos are always readable.
    preview_videos_per_day: int = 10
