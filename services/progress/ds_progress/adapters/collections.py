"""The progress database: collection names and the indexes declared for MongoDB.

Every hot path is an `_id` lookup (FerretDB, the test server, uses no secondary index); the
secondary indexes serve the admin and per-user list queries on MongoDB.
"""

from __future__ import annotations

from ds_common.events.outbox import outbox_indexes
from ds_common.mongo import IndexSpec, asc

JOURNAL = "journal"          # group-committed progress saves; each batch doc carries its practice events
PROGRESS = "progress"        # _id "{user}:{channel}:{video}": inputs, position, completion (compacted journal)
QUOTA = "quota"              # _id user: current cycle, its videos, history; outbox for video.started
ENTITLEMENTS = "entitlements"  # _id user: billing's plan.changed mirror
USERS = "users"              # _id user: email, created_at (user.registered / user.updated)
STATS_DAILY = "stats_daily"  # _id "{user}:{utc-midnight ms}": practice seconds per day, channel, video
MISSED_WORDS = "missed_words"  # _id user: {lang: [words]}

OUTBOX_COLLECTIONS = (JOURNAL, QUOTA)

INDEXES: list[IndexSpec] = [
    IndexSpec(PROGRESS, asc("user_id", "channel_id")),
    IndexSpec(JOURNAL, asc("applied", "_id")),
    IndexSpec(JOURNAL, asc("saves.u")),
    IndexSpec(USERS, asc("email")),
    IndexSpec(USERS, asc("created_at")),
    IndexSpec(STATS_DAILY, asc("user_id", "day")),
    IndexSpec(STATS_DAILY, asc("day")),
    *outbox_indexes(*OUTBOX_COLLECTIONS),
]
