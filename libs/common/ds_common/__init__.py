"""Shared mechanics of the Dictation Studio services.

One obvious place for each cross-cutting concern: settings, logging, errors, the web
scaffolding (health, metrics, request ids, CORS), token verification, store clients and
the event backbone (envelope, contracts, outbox relay, consumer runner, dead letters).
"""
