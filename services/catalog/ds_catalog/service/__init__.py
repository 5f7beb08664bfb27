"""The catalog's use cases: what a route or a consumer handler asks for, one method each."""
