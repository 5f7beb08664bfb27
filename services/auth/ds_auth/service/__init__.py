"""Auth's use cases: what a route, a handler or an operator command asks for, one function each."""
