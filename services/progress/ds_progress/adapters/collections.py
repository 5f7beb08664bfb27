"""The progress database: collection names and the indexes declared for MongoDB.

Every hot path is an `_id` lookup (FerretDB, the test server, uses no secondary index); the
secondary indexes serve the admin and per-user list queries on MongoDB.
"""

from __future__ import annotations

import zlib

from ds_common.events.outbox import outbox_indexes
from ds_common.mongo import IndexSpec, asc

JOURNAL = "journal"          # group-committed progress saves; each batch doc also holds its practice events
# Progress documents, _id "{user}:{channel}:{video}" (inputs, position, completion; the compacted
# journal), spread over PROGRESS_PARTITIONS collections by learner: on the test store every update
# scans its whole collection while holding the server-wide write lock, so compaction cost follows
# the partition's size, not the whole data set's. One learner's documents share a partition, so
# the per-learner views read one collection. (On MongoDB this costs nothing and is not needed.)
PROGRESS_PARTITIONS = 32
QUOTA = "quota"              # _id user: current cycle, its videos, history; outbox for video.started
ENTITLEMENTS = "entitlements"  # _id user: billing's plan.changed mirror
USERS = "users"              # _id user: email, created_at (user.registered / user.updated)
STATS_DAILY = "stats_daily"  # _id "{user}:{utc-midnight ms}": practice seconds per day, channel, video
STATS_TOTALS = "stats_totals"  # _id user: practice seconds in all, per day, per channel, per video
MISSED_WORDS = "missed_words"  # _id user: {lang: [words]}
CATALOG = "catalog"          # _id channel: its name, visibility and videos (catalog's channel and video events)
LISTINGS = "listings"        # _id user: `v`, per "<channel>:<video>", what the list views show (journal.py)

OUTBOX_COLLECTIONS = (QUOTA,)  # the journal is relayed by its compactor (adapters/journal.py)


def progress_collection(user_id: str) -> str:
    return f"progress{zlib.crc32(user_id.encode()) % PROGRESS_PARTITIONS:02d}"


INDEXES: list[IndexSpec] = [
    *(IndexSpec(f"progress{p:02d}", asc("user_id", "channel_id")) for p in range(PROGRESS_PARTITIONS)),
    IndexSpec(JOURNAL, asc("u")),
    IndexSpec(USERS, asc("email")),
    IndexSpec(USERS, asc("created_at")),
    IndexSpec(STATS_DAILY, asc("day")),
    *outbox_indexes(*OUTBOX_COLLECTIONS),
]
