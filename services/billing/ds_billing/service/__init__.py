"""Billing's use cases: what a route, a handler or a provider's callback asks for, one function each."""
