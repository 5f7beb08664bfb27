"""Catalog adapters: the Mongo repositories and the read cache."""
