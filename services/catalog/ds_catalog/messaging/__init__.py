"""Catalog consumers: the transcripts service's state, popularity, and user names."""
