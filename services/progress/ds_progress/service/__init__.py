"""Progress's use cases: what a route or a handler asks for, one method each."""
