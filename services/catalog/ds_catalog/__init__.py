"""Catalog: channels, videos, recommendations, error reports, video analytics."""

SERVICE = "catalog"
BASE_PORT = 8102
