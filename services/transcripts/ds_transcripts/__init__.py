"""Transcripts: YouTube fetching with fallback, caching, editing, access control."""

SERVICE = "transcripts"
BASE_PORT = 8103
