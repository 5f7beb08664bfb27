"""The catalog's HTTP routes, in the legacy shapes (legacy-api.md §4.2, §4.7, §4.8, §4.12)."""
