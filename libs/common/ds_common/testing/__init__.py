"""Test helpers shared by every service's tests: infrastructure endpoints, tokens, ports."""
