"""Catalog rules without I/O: SRT files, YouTube links, the channel and video aggregates, uploads,
recommendations, analytics, and the value sets the contracts allow."""
