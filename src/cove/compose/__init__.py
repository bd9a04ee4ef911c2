"""Compose: the compose file loader and model, and the `cove compose` commands."""
