"""The Redis copies behind progress's hot reads (ds_common.cache), named once so that the API, which
reads and fills them, and the consumer, which forgets what its events change, agree.

Every writer of what a copy holds forgets it after its store write:
- `learners` (the quota ledger and the plan mirror, read together by quota checks): the API's
  registrations and the consumer's `plan.changed`;
- `listings` (a learner's progress list, without the typed text): every save (in the save's
  Redis script, see cache.py) and the empty entry a registration creates;
- `channel_videos`: the consumer's `video.published` / `video.removed`;
- `missed_words`: the API's adds and removes.
"""

from __future__ import annotations

from ds_common.cache import DocumentCache
from ds_common.runtime import Stores


def _copies(stores: Stores, name: str) -> DocumentCache:
    return DocumentCache(stores.redis, f"progress:{stores.db.name}", name)


def learners(stores: Stores) -> DocumentCache:
    return _copies(stores, "learner")


def listings(stores: Stores) -> DocumentCache:
    return _copies(stores, "listing")


def channel_videos(stores: Stores) -> DocumentCache:
    return _copies(stores, "channel-videos")


def missed_words(stores: Stores) -> DocumentCache:
    return _copies(stores, "missed-words")
