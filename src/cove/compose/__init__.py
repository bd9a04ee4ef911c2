"""Compose: load compose files into a project model (and, later, run it)."""
