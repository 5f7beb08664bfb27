"""The Redis copies behind progress's hot reads (ds_common.cache), named once so that the API, which
reads and fills them, and the consumer, which forgets what its events change, agree.

Every writer of what a copy holds forgets it after its store write:
- `learners` (the quota ledger and the plan mirror, read together by quota checks): the API's
  registrations and the consumer's `plan.changed`;
- `listings` (a learner's progress list, without the typed text): every save (in the save's
  Redis script, see cache.py) and the empty entry a registration creates;
- `catalog` (per channel: names, visibility, videos): the consumer's catalog events; read by every
  channel page and every save of every learner, so each API process also keeps it for a second (a
  catalog change reaches progress up to a second later);
- `missed_words`: the API's adds and removes.
"""

from __future__ import annotations

from ds_common.cache import DocumentCache
from ds_common.runtime import Stores


def _copies(stores: Stores, name: str, *, local_ttl_s: float = 0) -> DocumentCache:
    return DocumentCache(stores.redis, f"progress:{stores.db.name}", name, local_ttl_s=local_ttl_s)


def learners(stores: Stores) -> DocumentCache:
    return _copies(stores, "learner")


def listings(stores: Stores) -> DocumentCache:
    return _copies(stores, "listing")


def catalog(stores: Stores) -> DocumentCache:
    return _copies(stores, "catalog", local_ttl_s=1.0)


def missed_words(stores: Stores) -> DocumentCache:
    return _copies(stores, "missed-words")
