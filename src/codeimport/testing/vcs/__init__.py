"""Test servers and repository builders, one module per source kind."""
