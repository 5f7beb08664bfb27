"""Billing: Stripe checkout and webhooks, membership codes, entitlements."""

SERVICE = "billing"
BASE_PORT = 8105
