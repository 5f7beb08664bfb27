"""Billing's collections and their indexes. Hot paths are `_id` lookups (FerretDB uses no other index).

- entitlements   `_id` user id: the Account, the derived entitlement, its version, the ids of the
                 operations applied (idempotency), the latest ledger entry, and the outbox.
- payments       the immutable ledger: `_id` "<user id>:<entitlement version>", insert-once.
- stripe_events  `_id` Stripe event id: every fulfilled event with its outcome (insert-only record).
- checkouts      `_id` Checkout Session id: who started it, for which plan (ownership for verify-session).
- stripe_refs    `_id` a subscription or payment intent id: the user and the grant it belongs to
                 (insert-once; read only for refunds and for events without our metadata).

Write paths read only by `_id`: the local FerretDB uses no index but `_id` (and only with the
build patch in deploy/local/ferretdb/patches.json); on MongoDB all of these are index lookups.
- codes          `_id` a code's random part: membership codes.
- users          `_id` user id, and user_emails `_id` lower-cased email: the projection of auth's users.
- audit          admin actions (code generation, assignment, plan changes).
- zpay_orders, zpay_user_orders: ZPay orders and each learner's order ids (adapters/zpay_orders.py).
"""

from __future__ import annotations

from ds_common.events.outbox import outbox_indexes
from ds_common.mongo import IndexSpec, asc

ENTITLEMENTS = "entitlements"
PAYMENTS = "payments"
STRIPE_EVENTS = "stripe_events"
CHECKOUTS = "checkouts"
STRIPE_REFS = "stripe_refs"
CODES = "codes"
USERS = "users"
USER_EMAILS = "user_emails"
AUDIT = "audit"
ZPAY_ORDERS = "zpay_orders"
ZPAY_USER_ORDERS = "zpay_user_orders"

RELAYED = [ENTITLEMENTS]

INDEXES = [
    *outbox_indexes(*RELAYED),
    IndexSpec(ENTITLEMENTS, asc("updated_at")),
    IndexSpec(PAYMENTS, asc("user_id", "at")),
    IndexSpec(CHECKOUTS, asc("user_id", "created_at")),
    IndexSpec(CODES, asc("state", "expires_at")),
    IndexSpec(AUDIT, asc("at")),
]
